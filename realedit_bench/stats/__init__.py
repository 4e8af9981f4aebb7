"""Statistics shared by the judge summary, metrics, the leaderboard and agreement."""
