package injector

import "testing"

func TestIdentitySubject(t *testing.T) {
	tests := []struct {
		name string
		id   Identity
		want string
	}{
		{"defaults to user id", Identity{UserID: "007"}, "007"},
		{"explicit subject wins", Identity{UserID: "007", SalesforceSubject: "003XX000004TmiQ"}, "003XX000004TmiQ"},
		{"both empty", Identity{}, ""},
		{"subject without user id", Identity{SalesforceSubject: "contact-1"}, "contact-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.Subject(); got != tt.want {
				t.Errorf("Subject() = %q, want %q", got, tt.want)
			}
		})
	}
}
