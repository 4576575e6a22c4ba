"""The CLI side's plumbing, under every service: settings (config), the per-command context
(context), output (console), AWS clients (aws), Terraform and short-lived processes (terraform,
proc), driver logs (logs) and run pricing (cost). It imports no service, command, engine or local
stand-in (pyproject's import-linter contract `core-is-plumbing`); the errors it raises are the one
tree both sides share, deplat_job.errors."""
