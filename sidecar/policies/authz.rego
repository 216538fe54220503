# Default authorization policy of the sidecar's AuthService.Authorize.
#
# Input: {"claims": {...validated JWT claims...}, "action": "read", "resource": "people"}.
# A read or list needs scope "<resource>:read"; create, update and delete need "<resource>:write";
# evaluate (of a policy) needs "<resource>:evaluate".
# The decision carries a reason so that a 403 can say why.
package cpod.authz

import rego.v1

verbs := {
	"read": "read",
	"list": "read",
	"create": "write",
	"update": "write",
	"delete": "write",
	"evaluate": "evaluate",
}

required_scope := sprintf("%s:%s", [input.resource, verbs[input.action]])

granted contains scope if some scope in split(object.get(input.claims, "scope", ""), " ")

has_tenant if {
	is_string(input.claims.tenant_id)
	input.claims.tenant_id != ""
}

default allow := false

allow if {
	has_tenant
	required_scope in granted
}

default reason := "denied"

reason := "allowed" if allow

reason := sprintf("unknown action %q", [input.action]) if not verbs[input.action]

reason := "token has no tenant" if {
	verbs[input.action]
	not has_tenant
}

reason := sprintf("scope %q required", [required_scope]) if {
	has_tenant
	not required_scope in granted
}

decision := {"allow": allow, "reason": reason}
