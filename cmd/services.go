package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/trace-forensics/trace-forensics/live"

	"github.com/spf13/cobra"
)

// ServicesOptions are the inputs of `trace-forensics services`.
type ServicesOptions struct {
	IO       IO
	Live     liveOptions
	Services []string
	Format   string
}

// NewCmdServices builds the command; runF replaces the run function in tests.
func NewCmdServices(io IO, runF func(*ServicesOptions) error) *cobra.Command {
	opts := &ServicesOptions{IO: io}
	c := &cobra.Command{
		Use:   "services --jaeger URL | --jaeger-grpc HOST:PORT",
		Short: "List the services and operations a Jaeger knows",
		Long: `Asks a Jaeger query service for its services and, for each, the operations
(span names) and their span kinds: the names --service and --operation take.
Jaeger traces itself, so a service named "jaeger" is usually listed too.

` + envHelp,
		Example: `  trace-forensics services --jaeger http://localhost:16686
  trace-forensics services --jaeger-grpc localhost:16685 --service chat-gateway
  trace-forensics services --jaeger https://jaeger.example.com --format json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runServices(c.Context(), opts)
		},
	}
	fl := c.Flags()
	opts.Live.bindConn(fl)
	fl.StringArrayVar(&opts.Services, "service", nil, "list the operations of this service only (repeatable)")
	fl.StringVarP(&opts.Format, "format", "f", "text", "output format: text or json")
	return c
}

func runServices(ctx context.Context, opts *ServicesOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	io := opts.IO
	l := &opts.Live
	if !l.isLive() {
		return usagef("give --jaeger URL or --jaeger-grpc HOST:PORT")
	}
	if opts.Format != "text" && opts.Format != "json" {
		return usagef("--format: %q is not text or json", opts.Format)
	}
	if err := l.checkAddress(); err != nil {
		return err
	}
	notify := func(msg string) { fmt.Fprintf(io.Err, "trace-forensics: %s\n", msg) }
	po, err := l.conn.pullOptions(io, notify)
	if err != nil {
		return err
	}
	var list []live.ServiceOperations
	if l.jaeger != "" {
		list, err = live.JaegerServices(ctx, l.jaeger, opts.Services, po)
	} else {
		list, err = live.JaegerServicesGRPC(ctx, l.jaegerGRPC, opts.Services, po)
	}
	if err != nil {
		return err
	}
	if opts.Format == "json" {
		if list == nil {
			list = []live.ServiceOperations{}
		}
		for i := range list {
			if list[i].Operations == nil {
				list[i].Operations = []live.Operation{}
			}
		}
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(io.Err, "trace-forensics: the server knows no services yet")
		return nil
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	for _, s := range list {
		fmt.Fprintln(tw, s.Service)
		if len(s.Operations) == 0 {
			fmt.Fprintln(tw, "  (no operations)")
		}
		for _, o := range s.Operations {
			fmt.Fprintf(tw, "  %s\t%s\n", o.Name, strings.ToLower(o.SpanKind))
		}
	}
	return tw.Flush()
}
