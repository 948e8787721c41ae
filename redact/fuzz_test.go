package redact

import "testing"

// FuzzPatterns: redaction never panics, leaves no email behind, and
// redacting twice changes nothing more.
func FuzzPatterns(f *testing.F) {
	for _, s := range []string{
		"ada.1@example.com", "charge 4242 4242 4242 4242 now", "call +44 20 7946 0958", "(555) 010-4477",
		"connect 10.1.2.3:8080", "peer 2001:db8::8a2e:370:7334", "::ffff:192.0.2.128", "user%40example.com",
		"grpc::Server::Call", "GET /orders/4411", "2026-11-20T14:00:00Z", "version 1.2.3.4.5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Patterns(s)
		if emailRE.MatchString(once) {
			t.Errorf("Patterns(%q) = %q still holds an email", s, once)
		}
		if twice := Patterns(once); twice != once {
			t.Errorf("not idempotent: %q → %q → %q", s, once, twice)
		}
	})
}
