package redact

import (
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/analyze"
)

func TestPatterns(t *testing.T) {
	cases := []struct{ in, want string }{
		// emails
		{"ada.1@example.com", "[email]"},
		{"GET /users/grace.hopper+test@mail.example.co.uk/orders", "GET /users/[email]/orders"},
		{"lookup user%40example.com", "lookup [email]"},
		{"to: A.B@Example.ORG, cc: x@y.io", "to: [email], cc: [email]"},
		// cards: Luhn-valid only
		{"charge 4242424242424242", "charge [card]"},
		{"charge 4242 4242 4242 4242 now", "charge [card] now"},
		{"card=5555-5555-5555-4444", "card=[card]"},
		{"amex 378282246310005", "amex [card]"},
		{"order 4242424242424241", "order 4242424242424241"}, // fails Luhn
		{"id 1234567890123", "id 1234567890123"},             // fails Luhn
		// phones
		{"call +44 20 7946 0958", "call [phone]"},
		{"sms +15550104477", "sms [phone]"},
		{"(555) 010-4477", "[phone]"},
		{"555-010-4477 ext", "[phone] ext"},
		{"555.010.4477", "[phone]"},
		// IPv4
		{"connect 10.1.2.3:8080", "connect [ip]:8080"},
		{"from 192.168.0.255", "from [ip]"},
		{"bad 300.1.2.3", "bad 300.1.2.3"},
		// IPv6
		{"peer 2001:db8::8a2e:370:7334", "peer [ip]"},
		{"fe80::1%eth0", "[ip]%eth0"},
		{"[::1]:443", "[[ip]]:443"},
		{"::ffff:192.0.2.128", "[ip]"},
		// left alone
		{"POST /v1/chat/completions", "POST /v1/chat/completions"},
		{"chat gpt-4o-mini", "chat gpt-4o-mini"},
		{"grpc::Server::Call", "grpc::Server::Call"},
		{"Bad::Add", "Bad::Add"},
		{"cache::add2", "cache::add2"},
		{"version 1.2.3.4.5", "version 1.2.3.4.5"},
		{"v1.2.3.4", "v1.2.3.4"},
		{"at 14:00:05", "at 14:00:05"},
		{"2026-11-20T14:00:00Z", "2026-11-20T14:00:00Z"},
		{"GET /orders/4411", "GET /orders/4411"},
		{"trace 4bf92f3577b34da6a3ce929d0e0e4736", "trace 4bf92f3577b34da6a3ce929d0e0e4736"},
		{"ts 1732550400123", "ts 1732550400123"},
		{"", ""},
	}
	for _, c := range cases {
		if got := Patterns(c.in); got != c.want {
			t.Errorf("Patterns(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLuhn(t *testing.T) {
	for _, s := range []string{"4242424242424242", "79927398713", "5555555555554444", "0"} {
		if !Luhn(digitsOf(s)) {
			t.Errorf("Luhn(%s) = false", s)
		}
	}
	for _, s := range []string{"4242424242424241", "79927398710", "1"} {
		if Luhn(digitsOf(s)) {
			t.Errorf("Luhn(%s) = true", s)
		}
	}
}

func TestKeys(t *testing.T) {
	r := New(Options{Keys: []string{"user.id", " tenant "}})
	r.Learn("user.id", "u-98431", "u-00001", "u-98431")
	r.Learn("tenant", "acme-corp")
	r.Learn("not.listed", "secret-value")
	if got := r.Value("user.id", "u-98431"); got != "user.id #2" {
		t.Errorf("pseudonym = %q", got)
	}
	if got := r.Value("user.id", "u-00001"); got != "user.id #1" {
		t.Errorf("pseudonym = %q", got)
	}
	if got := r.Value("user.id", "never-seen"); got != "user.id #?" {
		t.Errorf("unknown value = %q", got)
	}
	if got := r.Value("model", "gpt-4o a@b.io"); got != "gpt-4o [email]" {
		t.Errorf("unlisted key = %q", got)
	}
	if got := r.String("GET /users/u-98431 for acme-corp"); got != "GET /users/[user.id] for [tenant]" {
		t.Errorf("learned values = %q", got)
	}
	if got := r.String("secret-value"); got != "secret-value" {
		t.Errorf("unlisted key's value was learned: %q", got)
	}
	if !r.Listed("tenant") || r.Listed("not.listed") {
		t.Error("Listed")
	}
	// Short values are replaced only as whole values.
	r.Learn("tenant", "eu")
	if got := r.String("europe"); got != "europe" {
		t.Errorf("short value cut out of a word: %q", got)
	}
	if got := r.Value("tenant", "eu"); !strings.HasPrefix(got, "tenant #") {
		t.Errorf("short value = %q", got)
	}
}

func TestResult(t *testing.T) {
	const email = "canary.person@example.com"
	res := &analyze.Result{
		Requests: analyze.RequestStats{Exemplars: []string{"4242424242424242"}},
		Operations: []analyze.OperationStats{{
			Service: "svc-" + email, Operation: "GET /u/" + email, Stage: "s " + email,
			Exemplars: []string{"00000000000000004242424242424242"},
		}},
		Stages:   []analyze.StageStats{{Stage: "checkout/pay " + email}},
		Bands:    []analyze.BandStats{{Name: "p99+", Stages: []analyze.StageStats{{Stage: email}}}},
		GroupBy:  "user.id",
		Groups:   []analyze.GroupStats{{Key: "user.id", Value: "u-1"}, {Key: "user.id", Value: "u-2"}},
		Coverage: analyze.Coverage{Operations: []analyze.UntracedOp{{Gap: analyze.Gap{After: email}}}, MissingStages: []string{email}},
		Warnings: []model.WarningCount{{Kind: "orphan_span", Count: 1, Example: "span of " + email}},
		Inputs:   []model.Input{{Name: "export-" + email + ".json"}},
		Rules:    []analyze.RuleUsage{{Matched: []analyze.OpCount{{Operation: email}}}},
	}
	res.Unmatched = []analyze.OpCount{{Service: "x", Operation: email}}
	r := New(Options{Keys: []string{"user.id"}})
	r.Learn("user.id", "u-1", "u-2")
	Result(res, r)
	var b strings.Builder
	dump(&b, res)
	if strings.Contains(b.String(), email) {
		t.Errorf("the email survived: %s", b.String())
	}
	if res.Groups[0].Value != "user.id #1" || res.Groups[1].Value != "user.id #2" || res.Groups[0].Key != "user.id" {
		t.Errorf("groups = %+v", res.Groups)
	}
	if res.Requests.Exemplars[0] != "4242424242424242" || res.Operations[0].Exemplars[0] != "00000000000000004242424242424242" {
		t.Error("trace IDs were redacted")
	}
	if res.Operations[0].Operation != "GET /u/[email]" {
		t.Errorf("operation = %q", res.Operations[0].Operation)
	}
}

// dump writes every string of v, for the canary check.
func dump(b *strings.Builder, res *analyze.Result) {
	for _, o := range res.Operations {
		b.WriteString(o.Service + o.Operation + o.Stage)
	}
	for _, s := range res.Stages {
		b.WriteString(s.Stage)
	}
	for _, bd := range res.Bands {
		for _, s := range bd.Stages {
			b.WriteString(s.Stage)
		}
	}
	for _, u := range res.Coverage.Operations {
		b.WriteString(u.Gap.After)
	}
	b.WriteString(strings.Join(res.Coverage.MissingStages, ""))
	for _, w := range res.Warnings {
		b.WriteString(w.Example)
	}
	for _, in := range res.Inputs {
		b.WriteString(in.Name)
	}
	for _, ru := range res.Rules {
		for _, m := range ru.Matched {
			b.WriteString(m.Operation)
		}
	}
	for _, m := range res.Unmatched {
		b.WriteString(m.Operation)
	}
}

func BenchmarkString(b *testing.B) {
	r := New(Options{})
	names := []string{"POST /v1/chat/completions", "GET /sessions/{id}", "redis GET", "chat gpt-4o", "SELECT users 2026"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.String(names[i%len(names)])
	}
}

func TestWalk(t *testing.T) {
	type span struct {
		SpanID, ParentID string
		Service, Name    string
		Tags             map[string]string
		Next             *span
		unexported       string
	}
	v := &span{SpanID: "4242424242424242", Service: "a@b.io", Name: "GET 10.0.0.1",
		Tags: map[string]string{"k a@b.io": "+44 20 7946 0958"}, Next: &span{Name: "c@d.io"}, unexported: "e@f.io"}
	Walk(v, New(Options{}))
	if v.SpanID != "4242424242424242" {
		t.Error("a span ID was redacted")
	}
	if v.Service != "[email]" || v.Name != "GET [ip]" || v.Next.Name != "[email]" {
		t.Errorf("%+v", v)
	}
	if v.Tags["k [email]"] != "[phone]" || len(v.Tags) != 1 {
		t.Errorf("map: %v", v.Tags)
	}
	if v.unexported != "e@f.io" {
		t.Error("an unexported field was written")
	}
	Walk(nil, New(Options{}))
	Walk(span{}, New(Options{})) // not a pointer: nothing to do
}
