package injector

// AppendSettingsJSON appends s as the JSON object window.intercomSettings
// gets: app_id, api_base (omitted when empty), user_id, and email, name,
// intercom_user_jwt, salesforce_identity_token and user_hash when set. The one
// place the settings keys are written on the server: the snippet's first
// argument and the token endpoint's answer (which adds expires_at) come
// from it. Strings are ASCII-only and safe inside a <script> element.
func AppendSettingsJSON(dst []byte, s Settings) []byte {
	b := append(dst, `{"app_id":`...)
	b = appendJSString(b, s.AppID)
	if s.APIBase != "" {
		b = append(b, `,"api_base":`...)
		b = appendJSString(b, s.APIBase)
	}
	b = append(b, `,"user_id":`...)
	b = appendJSString(b, s.UserID)
	if s.Email != "" {
		b = append(b, `,"email":`...)
		b = appendJSString(b, s.Email)
	}
	if s.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSString(b, s.Name)
	}
	if s.IntercomUserJWT != "" {
		b = append(b, `,"intercom_user_jwt":`...)
		b = appendJSString(b, s.IntercomUserJWT)
	}
	if s.SalesforceIdentityToken != "" {
		b = append(b, `,"salesforce_identity_token":`...)
		b = appendJSString(b, s.SalesforceIdentityToken)
	}
	if s.UserHash != "" {
		b = append(b, `,"user_hash":`...)
		b = appendJSString(b, s.UserHash)
	}
	return append(b, '}')
}
