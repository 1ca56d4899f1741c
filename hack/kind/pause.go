// Command pause is the infrastructure ("sandbox") container of every Pod in kto's offline kind node: it holds
// the Pod's namespaces and does nothing else, like registry.k8s.io/pause. It exits on SIGINT/SIGTERM and, as
// PID 1 of its PID namespace when shared, reaps the zombies it inherits.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
