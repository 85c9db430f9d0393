"""A real single-node Kubernetes cluster on this machine (``make kube-up``/``make kube-down``):
containerd and runc from Debian, the control plane, kubelet, kube-proxy and CoreDNS built from
the Go module proxy, state under var/kube/, and the host left as it was found when it stops.
``make kube-e2e`` installs the Helm chart into it and runs the end-to-end suite against it."""
