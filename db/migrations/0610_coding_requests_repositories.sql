-- Which repositories' pull requests may move coding requests (issue 11, defect 8).

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'coding_requests.repositories',
    '[]'::jsonb,
    'Repositories ("owner/name", compared case-insensitively) whose pull requests link to coding requests: by the '
    'branch name recorded on a request, or by cr-<number> in the branch or, unless the pull request comes from a '
    'fork, in the title. Pull requests into other repositories link nothing. Empty: any repository, but only by '
    'the exact branch name recorded on a request.',
    '{"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"}, "uniqueItems": true}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;
