//! What this provider keeps of a SCIM User (RFC 7643 §4.1), said once: `/Schemas` publishes it,
//! filters and PATCH paths resolve names against it (case-insensitively, RFC 7643 §2.1), and
//! it says which strings compare with case. Every attribute here is stored and returned as
//! sent; what is not here (phone numbers, addresses, the enterprise extension, ...) is accepted
//! and not kept.

use serde_json::{json, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Complex,
    Reference,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Complex => "complex",
            Self::Reference => "reference",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    WriteOnly,
    Immutable,
}

/// One attribute of the User schema as this provider keeps it.
#[derive(Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: Kind,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub description: &'static str,
    pub canonical_values: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
    /// `returned: never` (the password); otherwise `default`.
    pub never_returned: bool,
    /// `uniqueness: server`.
    pub unique: bool,
    /// A multi-valued attribute of which one value is kept: `add` replaces it.
    pub keeps_one: bool,
    /// `referenceTypes` of a reference.
    pub reference_types: &'static [&'static str],
}

const fn string(name: &'static str, description: &'static str) -> Attribute {
    Attribute {
        name,
        kind: Kind::String,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        description,
        canonical_values: &[],
        sub_attributes: &[],
        never_returned: false,
        unique: false,
        keeps_one: false,
        reference_types: &[],
    }
}

const NAME_PARTS: &[Attribute] = &[
    string("formatted", "The full name, as it is shown (the `name` claim of ID tokens and userinfo)."),
    string("familyName", "The family name (the `family_name` claim)."),
    string("givenName", "The given name (the `given_name` claim)."),
];

const EMAIL_PARTS: &[Attribute] = &[
    string("value", "The email address (the `email` claim)."),
    Attribute {
        canonical_values: &["work"],
        ..string("type", "Always `work`: the provider keeps one address per user.")
    },
];

/// The User schema's attributes this provider keeps, in the order they are shown.
pub const USER_ATTRIBUTES: &[Attribute] = &[
    Attribute {
        required: true,
        unique: true,
        ..string("userName", "The name the user signs in with: letters, digits and . _ - @ +, kept in lowercase.")
    },
    Attribute {
        kind: Kind::Complex,
        sub_attributes: NAME_PARTS,
        ..string("name", "The components of the user's name.")
    },
    string("displayName", "The name shown for the user."),
    Attribute {
        kind: Kind::Complex,
        multi_valued: true,
        keeps_one: true,
        sub_attributes: EMAIL_PARTS,
        ..string("emails", "The user's email address: one is kept (the primary one, else the first sent).")
    },
    Attribute {
        kind: Kind::Boolean,
        // Every account is active or not; it cannot be unassigned (a POST without it creates
        // an active user).
        required: true,
        ..string("active", "Whether the user may sign in; false disables them and revokes their grants.")
    },
    Attribute {
        mutability: Mutability::WriteOnly,
        never_returned: true,
        case_exact: true,
        ..string("password", "A password to sign in with (8 characters or more); never returned.")
    },
];

const MEMBER_PARTS: &[Attribute] = &[
    Attribute { mutability: Mutability::Immutable, ..string("value", "The id of a member User.") },
    Attribute {
        kind: Kind::Reference,
        mutability: Mutability::Immutable,
        reference_types: &["User"],
        ..string("$ref", "The URI of the member User.")
    },
    Attribute {
        mutability: Mutability::Immutable,
        canonical_values: &["User"],
        ..string("type", "Always `User`: groups do not nest.")
    },
];

/// The Group schema's attributes (RFC 7643 §4.2), all kept.
pub const GROUP_ATTRIBUTES: &[Attribute] = &[
    Attribute {
        required: true,
        unique: true,
        ..string("displayName", "The group's name: the value apps see in the `groups` claim, 1 to 100 characters.")
    },
    Attribute {
        kind: Kind::Complex,
        multi_valued: true,
        sub_attributes: MEMBER_PARTS,
        ..string("members", "The users in the group.")
    },
];

/// What a resource type's schema is, for reading and patching.
#[derive(Debug)]
pub struct ResourceSchema {
    pub urn: &'static str,
    pub attributes: &'static [Attribute],
    /// Attributes of the schema that are not kept: a change of them is accepted, no effect.
    pub not_kept: &'static [&'static str],
    /// Sub-attributes of kept attributes that are not kept.
    pub sub_not_kept: &'static [(&'static str, &'static str)],
    /// Extension schemas accepted and ignored.
    pub ignored_extensions: &'static [&'static str],
}

impl ResourceSchema {
    /// The attribute called `name` (any case), with its canonical spelling.
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

pub const USER: ResourceSchema = ResourceSchema {
    urn: USER_SCHEMA,
    attributes: USER_ATTRIBUTES,
    not_kept: &[
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    ],
    sub_not_kept: &[
        ("name", "middleName"),
        ("name", "honorificPrefix"),
        ("name", "honorificSuffix"),
        ("emails", "primary"),
        ("emails", "display"),
    ],
    ignored_extensions: &[ENTERPRISE_USER_SCHEMA],
};

pub const GROUP: ResourceSchema = ResourceSchema {
    urn: GROUP_SCHEMA,
    attributes: GROUP_ATTRIBUTES,
    not_kept: &[],
    sub_not_kept: &[("members", "display")],
    ignored_extensions: &[],
};

/// The attribute of the User schema called `name` (any case), with its canonical spelling.
pub fn user_attribute(name: &str) -> Option<&'static Attribute> {
    USER.attribute(name)
}

impl Attribute {
    pub fn sub_attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn to_json(&self) -> Value {
        let mut out = json!({
            "name": self.name,
            "type": self.kind.as_str(),
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "mutability": match self.mutability {
                Mutability::ReadWrite => "readWrite",
                Mutability::WriteOnly => "writeOnly",
                Mutability::Immutable => "immutable",
            },
            "returned": if self.never_returned { "never" } else { "default" },
        });
        if matches!(self.kind, Kind::String | Kind::Reference) {
            out["caseExact"] = json!(self.case_exact);
            out["uniqueness"] = json!(if self.unique { "server" } else { "none" });
        }
        if !self.reference_types.is_empty() {
            out["referenceTypes"] = json!(self.reference_types);
        }
        if !self.canonical_values.is_empty() {
            out["canonicalValues"] = json!(self.canonical_values);
        }
        if !self.sub_attributes.is_empty() {
            out["subAttributes"] = self.sub_attributes.iter().map(Attribute::to_json).collect();
        }
        out
    }
}

/// The User schema resource (RFC 7643 §7), `location` its URL.
pub fn user_schema(location: &str) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "User Account",
        "attributes": USER_ATTRIBUTES.iter().map(Attribute::to_json).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": location },
    })
}

/// The Group schema resource (RFC 7643 §7), `location` its URL.
pub fn group_schema(location: &str) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "Group",
        "attributes": GROUP_ATTRIBUTES.iter().map(Attribute::to_json).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": location },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_in_any_case() {
        assert_eq!(user_attribute("USERNAME").unwrap().name, "userName");
        assert_eq!(user_attribute("name").unwrap().sub_attribute("FAMILYNAME").unwrap().name, "familyName");
        assert!(user_attribute("phoneNumbers").is_none());
    }

    #[test]
    fn the_published_schema_describes_what_is_kept() {
        let schema = user_schema("https://login.example/scim/v2/Schemas/x");
        let attributes = schema["attributes"].as_array().unwrap();
        let names: Vec<&str> = attributes.iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["userName", "name", "displayName", "emails", "active", "password"]);
        assert_eq!(attributes[0]["uniqueness"], "server");
        assert_eq!(attributes[5]["returned"], "never");
        assert_eq!(attributes[3]["subAttributes"][1]["canonicalValues"], json!(["work"]));
    }
}
