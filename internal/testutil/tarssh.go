package testutil

import (
	"fmt"
	"os/exec"
)

// TarOverSSH is `tar -c -C src . | ssh <sshArgs> <remoteCmd>`: the limit of
// one SSH channel that upload benchmarks compare the tool against. remoteCmd
// unpacks stdin on the far side, e.g. "tar -x -C /dest".
func TarOverSSH(sshArgs []string, src, remoteCmd string) error {
	sshc := exec.Command("ssh", append(append([]string{}, sshArgs...), remoteCmd)...)
	tarc := exec.Command("tar", "-c", "-C", src, ".")
	pipe, err := tarc.StdoutPipe()
	if err != nil {
		return err
	}
	sshc.Stdin = pipe
	if err := tarc.Start(); err != nil {
		return err
	}
	out, err := sshc.CombinedOutput()
	if werr := tarc.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("tar | ssh: %v: %s", err, out)
	}
	return nil
}
