-- Roles, auth.role() and pgvector, as Supabase provides them. On Supabase all of this exists already
-- and every statement here is a no-op.

CREATE EXTENSION IF NOT EXISTS vector;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN;
    END IF;
    -- The service switches to these roles per request (SET LOCAL ROLE); it must be a member.
    IF NOT pg_has_role(current_user, 'authenticated', 'MEMBER') THEN
        EXECUTE format('GRANT authenticated TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'service_role', 'MEMBER') THEN
        EXECUTE format('GRANT service_role TO %I', current_user);
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS auth;
GRANT USAGE ON SCHEMA auth TO authenticated, service_role;
GRANT USAGE ON SCHEMA public TO authenticated, service_role;

-- Supabase's auth.role(): the role claim of the request's JWT. Created only where it is missing.
DO $$
BEGIN
    IF to_regprocedure('auth.role()') IS NULL THEN
        CREATE FUNCTION auth.role() RETURNS text
        LANGUAGE sql STABLE
        AS $fn$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim.role', true), ''),
                nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
            )::text
        $fn$;
        GRANT EXECUTE ON FUNCTION auth.role() TO authenticated, service_role;
    END IF;
END
$$;

-- Keeps updated_at current on every table that has one, unless the UPDATE sets it itself.
CREATE OR REPLACE FUNCTION public.set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
