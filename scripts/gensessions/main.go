// Command gensessions writes a backends/recordcodec stream of N generated
// sessions to stdout, for filling a gateway fast (aspstate import) in
// scripts/adminbench.sh: keys of the .NET form, --payload bytes each, every
// --locked-every'th session locked (lock dates spread over the last hour),
// 20-minute timeout and remaining lifetime.
//
//	go run ./scripts/gensessions -n 1000000 | aspstate import --admin ADDR
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/recordcodec"
)

func main() {
	n := flag.Int("n", 1000000, "sessions")
	payload := flag.Int("payload", 1024, "blob bytes")
	lockedEvery := flag.Int("locked-every", 100, "lock every n'th session (0: none)")
	app := flag.String("app", "/LM/W3SVC/1/ROOT/gen", "application path (the keys' prefix)")
	flag.Parse()
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	w := recordcodec.NewWriter(out)
	data := make([]byte, *payload)
	for i := range data {
		data[i] = byte(i)
	}
	now := time.Now().UTC()
	for i := range *n {
		key := fmt.Sprintf("%s(gen%07d)/gen%018d", *app, i, i)
		rec := backends.Record{Data: data, Timeout: 20}
		if *lockedEvery > 0 && i%*lockedEvery == 0 {
			rec.Locked, rec.LockCookie = true, 1
			rec.LockDate = now.Add(-time.Duration(i%3600) * time.Second)
		}
		if err := w.Write(key, &rec, 20*time.Minute); err != nil {
			fmt.Fprintln(os.Stderr, "gensessions:", err)
			os.Exit(1)
		}
	}
	err := w.Flush()
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gensessions:", err)
		os.Exit(1)
	}
}
