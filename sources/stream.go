package sources

import (
	"context"
	"errors"
	"io/fs"

	"github.com/trace-forensics/trace-forensics/model"
)

// Stream loads documents that a producer hands over as they arrive, such
// as the answers of a live pull: produce runs beside the decoding workers
// and feeds them through the Feed. Every document is read by the same
// decoders as a file, so a pulled trace and a saved one give the same spans.
func Stream(ctx context.Context, opt Options, produce func(context.Context, *Feed) error) (*model.Dataset, error) {
	return run(ctx, opt, func(ctx context.Context, l *loader) error {
		return produce(ctx, &Feed{l: l})
	})
}

// Feed is the producer's side of a Stream.
type Feed struct{ l *loader }

// FeedInput is one named input of a stream; its documents are counted and
// reported under its name.
type FeedInput struct{ in *input }

// Input registers an input. When allowEmpty is set, an input that yields
// no spans means nothing matched (a search with no results), not an error.
func (f *Feed) Input(name string, allowEmpty bool) *FeedInput {
	in := &input{name: name, allowEmpty: allowEmpty}
	f.l.register(in)
	return &FeedInput{in: in}
}

// Send hands one document to the decoders; false when the load was
// cancelled.
func (f *Feed) Send(in *FeedInput, doc []byte) bool {
	return f.l.send(job{in: in.in, buf: doc})
}

// Warn counts a data-quality warning on the input; false when the load was
// cancelled.
func (f *Feed) Warn(in *FeedInput, kind, example string) bool {
	return f.l.send(job{in: in.in, emit: func(sk *sink) error {
		sk.warn.Add(kind, example)
		return nil
	}})
}

// PathError is the part of a file-system error worth showing beside a path
// the user gave: "no such file or directory", not the operation and path
// again.
func PathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
