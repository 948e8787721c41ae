package cmd

import (
	"github.com/trace-forensics/trace-forensics/redact"
)

// redactOutput removes personal data from what a command is about to print
// (a result, an explained trace, a snapshot): emails, phone and card
// numbers and IP addresses in span, service and stage names, group values
// and warning examples. Commands call it once, after analysis and before
// the summary on stderr and the report. The report command does more with
// --redact-key (runReport).
func redactOutput(v any) {
	redact.Walk(v, redact.New(redact.Options{}))
}
