package cmd

import (
	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/redact"
)

// redactOutput removes personal data from what a command is about to print
// (a result, an explained trace, a snapshot): emails, phone and card
// numbers and IP addresses in span, service and stage names, group values
// and warning examples, and the values of the --redact-key keys, which red
// has learned from the data. Commands call it once, after analysis and
// before the summary on stderr and the report.
func redactOutput(v any, red *redact.Redactor) {
	if red == nil {
		red = redact.New(redact.Options{})
	}
	redact.Walk(v, red)
}

// bindRedactKeys registers --redact-key.
func bindRedactKeys(c *cobra.Command, keys *[]string) {
	c.Flags().StringArrayVar(keys, "redact-key", nil, "hide the values of this attribute key wherever they would show (group values, names): each becomes 'KEY #N' (repeatable)")
}
