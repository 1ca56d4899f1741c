// Command runc-nosysresource is an OCI runtime that removes CAP_SYS_RESOURCE from a container's capabilities,
// then runs runc with the same arguments.
//
// Some VMs (kto's CI machines among them) withhold CAP_SYS_RESOURCE from everything they run, so runc cannot
// grant it and every privileged container - kind's node, kube-proxy in it - fails with "unable to apply caps:
// operation not permitted". dockerd on the host (--add-runtime, --default-runtime) and containerd in kto's
// offline kind node (runtimes.runc.options.BinaryName) both run containers through this wrapper.
// For `create` and `run` it rewrites <bundle>/config.json (bundle: --bundle/-b, else the working directory), for
// `exec` (docker exec, kubectl exec) the --process/-p file; everything else goes to runc untouched.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const dropped = "CAP_SYS_RESOURCE"

func runc() string {
	if p := os.Getenv("KTO_REAL_RUNC"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "runc"
}

// valued lists the options of runc and of its create/run/exec subcommands that take a value.
var valued = map[string]bool{
	"--root": true, "--log": true, "--log-format": true, "--criu": true,
	"--bundle": true, "-b": true, "--console-socket": true, "--pid-file": true, "--preserve-fds": true,
	"--process": true, "-p": true, "--cwd": true, "--env": true, "-e": true, "--user": true, "-u": true,
	"--additional-gids": true, "-g": true, "--cap": true, "-c": true, "--apparmor": true,
	"--process-label": true, "--cgroup": true,
}

// specFile returns the OCI file to rewrite and whether it is a whole config.json (create, run) or only a
// process (exec); "" for any other subcommand.
func specFile(args []string) (string, bool) {
	sub, bundle, process := "", "", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, inline := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "-") {
			if sub == "" {
				sub = a
			}
			continue
		}
		if !inline && valued[name] && i+1 < len(args) {
			value = args[i+1]
			i++
		}
		switch name {
		case "--bundle", "-b":
			bundle = value
		case "--process", "-p":
			process = value
		}
	}
	switch sub {
	case "create", "run":
		if bundle == "" {
			bundle, _ = os.Getwd()
		}
		return filepath.Join(bundle, "config.json"), true
	case "exec":
		return process, false
	}
	return "", false
}

func strip(path string, whole bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return err
	}
	process := spec
	if whole {
		process, _ = spec["process"].(map[string]any)
	}
	caps, _ := process["capabilities"].(map[string]any)
	changed := false
	for set, v := range caps {
		list, _ := v.([]any)
		kept := make([]any, 0, len(list))
		for _, c := range list {
			if c == dropped {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}

func main() {
	if path, whole := specFile(os.Args[1:]); path != "" {
		if err := strip(path, whole); err != nil {
			fmt.Fprintf(os.Stderr, "runc-nosysresource: %v\n", err)
			os.Exit(1)
		}
	}
	real := runc()
	argv := append([]string{real}, os.Args[1:]...)
	if err := syscall.Exec(real, argv, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc-nosysresource: exec %s: %v\n", real, err)
		os.Exit(1)
	}
}
