"""Jira (Data Center and Cloud): ``client`` (the ``jira`` library and raw REST, errors), ``fields``
(field values and create metadata), ``tracker`` (the ``Tracker`` protocol)."""

from connector.jira.tracker import JiraTracker

__all__ = ["JiraTracker"]
