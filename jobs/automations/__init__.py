"""Automations (issue 14): scans and events store firings, RQ jobs run their actions, exactly once.

- ``scan``: a scanned rule's one paged search, its firings committed before their jobs are enqueued;
- ``events``: event rules from the tracker webhooks the hub journals;
- ``run``: the firing job (claim, actions in order, progress saved) and the sweep of lost firings;
- ``actions``: what each action does, safe to repeat;
- ``rules``: the rule file's ``automations:`` compiled for the engine (``model``);
- ``periodic``: the scheduler's jobs; ``report``: what the ``automations`` commands print.
"""
