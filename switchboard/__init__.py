"""What more than one deployable needs: one contract between the function app, the admin site, the NLU
service and the training worker.

- `envelope`: the queue message every step of a turn carries, and the id alphabet;
- `turns`: the turn-log document (one per turn), its statuses and channels, the agent's branch name;
- `branches`: the function app's branches, their reply templates and default routes, as data
  (`branches.json`, written from the function app's code by `make manifest`);
- `templates`: what a reply template may say (the admin site refuses at save what the bot would ignore);
- `cosmos`: the Cosmos DB containers with their partition keys, opening the database, and its errors
  translated; `connections`: how Storage and Cosmos DB are signed in to (a key or Entra ID);
- `errors`: the error hierarchy; `retry`: retrying an outside service's transient answers;
- `settings`: a setting's text as its value; `telemetry`: OpenTelemetry set-up and what logs may say.

The images install it; the function app deploys with a copy that `python -m switchboard.bundle` puts
into its folder (the azd `prepackage` hook, the local Functions host and `make run` alike). Only
`cosmos`, `connections`, `retry` and `telemetry` touch an SDK, and only when called.
"""
