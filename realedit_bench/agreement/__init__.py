"""Judge-vs-human agreement (``realedit agree``): the statistics, the ratings reader, the computation of
a report, and the rows and wording shared by the terminal view and the site page
(``leaderboard.agreement``)."""
