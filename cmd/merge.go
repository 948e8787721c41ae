package cmd

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/snapshot"
)

// MergeOptions are the inputs of `trace-forensics merge`.
type MergeOptions struct {
	IO     IO
	Inputs []string
	Output string
	Quiet  bool
}

// NewCmdMerge builds the command; runF replaces the run function in tests.
func NewCmdMerge(io IO, runF func(*MergeOptions) error) *cobra.Command {
	opts := &MergeOptions{IO: io}
	c := &cobra.Command{
		Use:   "merge [flags] SNAPSHOT... -o FILE",
		Short: "Combine snapshots exactly: histograms add",
		Long: `Merges snapshots of disjoint sets of requests (CI shards, regions, hours) into
one, exactly: histograms, counts and sums add, the slowest traces of all are
kept, the time window widens. A stage or operation that one snapshot lacks
counts as 0 in its requests. Snapshots made with other stage rules, filters or
grouping keys, or an input in two snapshots, are reported on stderr and
recorded as notes in the result.`,
		Example: `  trace-forensics merge shard-*.json -o all.json
  trace-forensics merge eu.json us.json -o global.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Inputs = args
			if runF != nil {
				return runF(opts)
			}
			return runMerge(opts)
		},
	}
	c.Flags().StringVarP(&opts.Output, "output", "o", "", "write the merged snapshot to this file instead of stdout")
	c.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "do not print notes and a summary on stderr")
	return c
}

func runMerge(opts *MergeOptions) error {
	var snaps []*snapshot.Snapshot
	for _, path := range opts.Inputs {
		if _, err := os.Stat(path); err != nil {
			return err
		}
		if !snapshot.IsFile(path) {
			return fmt.Errorf("%s is not a snapshot (make one with 'trace-forensics snapshot %s -o FILE')", path, path)
		}
		s, err := snapshot.ReadFile(path)
		if err != nil {
			return err
		}
		snaps = append(snaps, s)
	}
	m, err := snapshot.Merge(snaps...)
	if err != nil {
		return err
	}
	if !opts.Quiet {
		for _, n := range m.Notes {
			fmt.Fprintf(opts.IO.Err, "warning: %s\n", n)
		}
	}
	if err := writeReport(opts.IO, opts.Output, func(w *bytes.Buffer) error { return m.Write(w) }); err != nil {
		return err
	}
	if !opts.Quiet {
		fmt.Fprintf(opts.IO.Err, "merged %d snapshots: %s\n", len(snaps), describeSnapshot(m))
	}
	return nil
}
