"""The operator's window: the status page served by `maplecollect serve` at `/`.

`pages` renders the HTML (Jinja2), `api` serves the JSON it polls, `overview`
reads phases/days/limiter, `samples` keeps each run's throughput series and
`files` streams a run's part files. docs/operations.md describes the page.
"""
