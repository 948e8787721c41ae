// Command trace-forensics breaks distributed-trace latency down by stage and
// span. See the README for usage.
package main

import (
	"os"

	"github.com/trace-forensics/trace-forensics/cmd"
)

func main() {
	os.Exit(cmd.Main(os.Args[1:], cmd.StdIO()))
}
