package injector

// Attribute is one named, verified fact about the user (plan, company, role…)
// that is signed into the Intercom JWT as its own claim. Signing it, rather
// than sending it as a plain intercomSettings field, is what lets Intercom's
// "Require verified updates" setting trust it.
type Attribute struct {
	Name  string // claim name; see ValidateAttributeName
	Value string // claim value, always signed as a JSON string
}

// Identity is the verified user as read from the trusted source (a header
// set by the authenticating proxy, a session, …). It is the single input to
// every signer, so that the Intercom and Salesforce tokens of one page can
// never disagree about who the user is.
type Identity struct {
	// UserID is Intercom's user_id. It is kept byte-for-byte: never trimmed,
	// lower-cased or converted to a number, because Intercom matches it
	// exactly and a "007" that turned into 7 would be a different user.
	UserID string

	// Email and Name are optional; they are signed only when non-empty.
	Email, Name string

	// Attributes are signed into the Intercom JWT as their own claims, in
	// configuration order.
	Attributes []Attribute

	// SalesforceSubject is the Salesforce token's "sub". Salesforce keys the
	// conversation on it, so some deployments use a contact id rather than
	// the application's user id. It is exactly the subject to sign: "" means
	// no Salesforce token for this identity, never a fallback to UserID (a
	// configured subject that is missing for a request must not sign the
	// user id into a conversation keyed on contact ids). The configuration
	// layer sets it to UserID when no separate subject is configured.
	SalesforceSubject string
}
