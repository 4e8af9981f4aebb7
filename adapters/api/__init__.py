"""Editors behind paid APIs (OpenAI, Google Gemini, Black Forest Labs, ByteDance Ark) on one base."""
