// Command coredns is CoreDNS with only the plugins the single-node test cluster needs (cluster
// DNS for Services and pods; everything else forwarded to the host's resolver), which keeps the
// build small. This is CoreDNS's documented way of choosing plugins at compile time.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order plugins run in, as in CoreDNS's own plugin.cfg.
var directives = []string{
	"ready", "log", "errors", "health", "cache", "loadbalance", "kubernetes", "forward",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
