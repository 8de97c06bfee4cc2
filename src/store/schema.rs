// The tables of migrations/{postgres,sqlite}; both backends share these definitions.

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        generation -> BigInt,
        public_jwk -> Text,
        sealed_private_key -> Binary,
        kek_id -> Text,
        created_at -> BigInt,
        signs_from -> BigInt,
    }
}

diesel::table! {
    sealed_secrets (name) {
        name -> Text,
        sealed -> Binary,
        kek_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    resource_servers (identifier) {
        identifier -> Text,
        name -> Text,
        scopes -> Text,
        access_token_lifetime -> Nullable<BigInt>,
        require_dpop -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        include_groups -> Bool,
        introspection_clients -> Text,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        name -> Text,
        client_type -> Text,
        token_endpoint_auth_method -> Text,
        grant_types -> Text,
        scopes -> Text,
        resources -> Text,
        default_resource -> Nullable<Text>,
        redirect_uris -> Text,
        web_origins -> Text,
        dpop_bound_access_tokens -> Bool,
        access_token_lifetime -> Nullable<BigInt>,
        jwks -> Nullable<Text>,
        jwks_uri -> Nullable<Text>,
        enabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        first_party -> Bool,
        id_token_signed_response_alg -> Nullable<Text>,
        require_pushed_authorization_requests -> Bool,
        post_logout_redirect_uris -> Text,
        backchannel_logout_uri -> Nullable<Text>,
    }
}

diesel::table! {
    users (user_id) {
        user_id -> Text,
        username -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        name -> Nullable<Text>,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        enabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        external_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (event_id) {
        event_id -> Text,
        at -> BigInt,
        request_id -> Nullable<Text>,
        origin -> Nullable<Text>,
        ip -> Nullable<Text>,
        client_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        action -> Text,
        outcome -> Text,
        detail -> Nullable<Text>,
        actor -> Nullable<Text>,
        target -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(signing_keys, resource_servers, clients, users, audit_events);

diesel::table! {
    client_secrets (secret_id) {
        secret_id -> Text,
        client_id -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    registry_versions (name) {
        name -> Text,
        version -> BigInt,
    }
}

diesel::joinable!(client_secrets -> clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(client_secrets, clients, registry_versions);

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        resources -> Text,
        granted_at -> BigInt,
    }
}

diesel::joinable!(consents -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(consents, users);

diesel::table! {
    refresh_families (family_id) {
        family_id -> Text,
        client_id -> Text,
        user_id -> Text,
        scopes -> Text,
        resources -> Text,
        jkt -> Nullable<Text>,
        auth_time -> BigInt,
        sid -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    groups (group_id) {
        group_id -> Text,
        name -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
        added_at -> BigInt,
    }
}

diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(group_members -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(groups, group_members, users);

diesel::table! {
    initial_access_tokens (token_hash) {
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        uses_left -> BigInt,
    }
}

diesel::table! {
    client_registrations (client_id) {
        client_id -> Text,
        token_hash -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(client_registrations -> clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(client_registrations, clients);

diesel::table! {
    hot_entries (key) {
        key -> Text,
        value -> Binary,
        expires_at -> BigInt,
    }
}

diesel::table! {
    hot_changes (seq) {
        seq -> BigInt,
        key -> Text,
        changed_at -> BigInt,
    }
}
