// Package backendtest is the conformance suite that every backend driver runs:
// backendtest.Run(t, harness) with subtests named by behaviour. It also holds a
// controllable clock shared by backend and gateway tests.
//
// A driver's test file looks like:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{
//			Open: func(t *testing.T, dir string, now func() time.Time) backends.Backend { ... },
//			Durable: true,
//			MaxValueSize: 1 << 20,
//		})
//	}
package backendtest
