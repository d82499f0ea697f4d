package cli

import (
	"bufio"
	"io"
	"runtime"
	"sync"

	"virtchain/model"
)

// writeListJSON writes what writeJSON(w, l) writes, with the domains
// encoded and indented side by side: on a host of 500 domains the JSON
// of `list --json` is 8 MB, and encoding it one domain after another took
// a fifth of the command. Each domain is a whole value, so its compact
// form, indentation (two levels in) and C1 escapes do not depend on the
// rest of the document.
func writeListJSON(w io.Writer, l listJSON) error {
	uri, err := compactJSON(l.URI)
	if err != nil {
		return err
	}
	if l.Domains == nil {
		return writeJSON(w, l)
	}
	parts := make([][]byte, len(l.Domains))
	errs := make([]error, len(l.Domains))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(l.Domains)) {
		wg.Go(func() {
			for i := range next {
				parts[i], errs[i] = indentedDomain(l.Domains[i])
			}
		})
	}
	for i := range l.Domains {
		next <- i
	}
	close(next)
	wg.Wait()

	for _, err := range errs {
		if err != nil {
			return err // before anything is written, as writeJSON does
		}
	}
	// Written as it is assembled: one 8 MB buffer grown by appends cost
	// twice the encoding.
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.WriteString("{\n  \"uri\": ")
	bw.Write(escapeC1(uri))
	bw.WriteString(",\n  \"domains\": [")
	for i, p := range parts {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(p)
	}
	if len(parts) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush() // the first write error, if any
}

// indentedDomain is one domain of the list, indented as it stands in the
// document: two levels in.
func indentedDomain(d model.Domain) ([]byte, error) {
	b, err := compactJSON(d)
	if err != nil {
		return nil, err
	}
	return escapeC1(indentJSON(make([]byte, 0, len(b)*2), b, 2)), nil
}
