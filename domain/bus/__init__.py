"""The inter-agent bus: ``agent_events`` rows in commit order, read by cursor and streamed."""
