package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cleanroomhq/cleanroom/attest"
	"github.com/cleanroomhq/cleanroom/report"
)

func newKeygen() *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "keygen --out PREFIX",
		Short: "Write a new ed25519 key pair for signing attestations (PREFIX and PREFIX.pub)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if prefix == "" {
				return usageError{errors.New("--out is required")}
			}
			if err := attest.Keygen(prefix); err != nil {
				return &exitError{exitFailed, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "private key: %s\npublic key:  %s.pub\n", prefix, prefix)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "out", "", "write the private key here and the public key to this path plus .pub")
	return cmd
}

func newAttest() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attest",
		Short: "Work with signed attestations of runs",
	}
	var key, file, dir string
	verify := &cobra.Command{
		Use:   "verify --key PUB --attestation FILE [--reports DIR]",
		Short: "Check an attestation's signature and that the reports it names are unchanged",
		Long: `verify checks every envelope of the attestation: its signature against the
public key, its payload type, and the sha256 of every report file it names
(looked up in --reports, by default the attestation's own folder). It prints
what was attested and exits 0 only when all of that holds, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" || file == "" {
				return usageError{errors.New("--key and --attestation are both required")}
			}
			if dir == "" {
				dir = filepath.Dir(file)
			}
			pub, err := attest.LoadPublicKey(key)
			if err != nil {
				return usageError{fmt.Errorf("--key: %w", err)}
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return usageError{fmt.Errorf("--attestation: %w", err)}
			}
			sum, err := attest.Verify(data, pub, dir)
			if err != nil {
				return &exitError{exitFailed, fmt.Errorf("attestation rejected: %w", err)}
			}
			printSummary(cmd.OutOrStdout(), sum)
			return nil
		},
	}
	fl := verify.Flags()
	fl.StringVar(&key, "key", "", "public key (PEM) the attestation must be signed with")
	fl.StringVar(&file, "attestation", "", "attestation file written by cleanroom run --attest")
	fl.StringVar(&dir, "reports", "", "folder holding the attested report files (default: the attestation's folder)")
	cmd.AddCommand(verify)
	return cmd
}

func printSummary(w io.Writer, s *attest.Summary) {
	fmt.Fprintf(w, "verified: signature and %d report files (%s)\n", len(s.Subjects), strings.Join(s.Subjects, ", "))
	fmt.Fprintf(w, "result:   %s (%d passed, %d warned, %d failed)\n", s.Result, len(s.PassedTests), len(s.WarnedTests), len(s.FailedTests))
	for _, t := range s.FailedTests {
		fmt.Fprintf(w, "  failed: %s\n", t)
	}
	if s.Run == nil {
		return
	}
	r := s.Run
	fmt.Fprintf(w, "run:      cleanroom %s, backend %s %s, %s – %s\n", r.Cleanroom, r.Backend, r.EngineVersion,
		r.Started.Format("2006-01-02 15:04:05Z07:00"), r.Finished.Format("15:04:05Z07:00"))
	for _, su := range r.Suites {
		fmt.Fprintf(w, "suite:    %s (%s) seed %d: %s\n", su.Name, su.File, su.Seed, su.Status)
	}
	for _, im := range r.Images {
		if im.Digest != "" {
			fmt.Fprintf(w, "image:    %s@%s\n", im.Name, im.Digest)
		} else {
			fmt.Fprintf(w, "image:    %s\n", im.Name)
		}
	}
	for _, c := range r.Containers {
		preset := "-"
		if c.Policy != nil {
			preset = c.Policy.Preset + ", network " + string(c.Policy.Network)
		}
		image := ""
		if c.Image != "" {
			image = ", " + c.Image
		}
		fmt.Fprintf(w, "policy:   %s/%s (%s%s): %s\n", c.Suite, c.Name, c.Kind, image, preset)
	}
}

// writeAttestation signs the run's attestation about the report files of
// its output folder and writes it to path.
func writeAttestation(path, keyFile string, out *outDir, run *report.Run) error {
	key, err := attest.LoadPrivateKey(keyFile)
	if err != nil {
		return fmt.Errorf("--sign-key: %w", err)
	}
	var subjects []string
	for _, name := range []string{reportJSONName, reportXMLName, reportCTRFName, traceName, auditName} {
		if p := out.Path(name); fileExists(p) {
			subjects = append(subjects, p)
		}
	}
	statements, err := attest.Build(run, attest.Options{Subjects: subjects, AuditLog: out.Path(auditName)})
	if err != nil {
		return fmt.Errorf("attestation: %w", err)
	}
	if err := attest.WriteFile(path, statements, key); err != nil {
		return fmt.Errorf("attestation: %w", err)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// attestFlags are run's --attest and --sign-key. They check themselves
// before anything runs, so a missing or unreadable key is a usage error
// rather than a lost attestation after a long run.
type attestFlags struct {
	file, keyFile string
}

func (a *attestFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&a.file, "attest", "", "write a signed in-toto attestation of the run's reports to this file (needs --sign-key; verify with cleanroom attest verify)")
	fl.StringVar(&a.keyFile, "sign-key", "", "ed25519 private key (from cleanroom keygen) that signs --attest")
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if (a.file == "") != (a.keyFile == "") {
			return usageError{errors.New("--attest and --sign-key go together")}
		}
		if a.keyFile != "" {
			if _, err := attest.LoadPrivateKey(a.keyFile); err != nil {
				return usageError{fmt.Errorf("--sign-key: %w", err)}
			}
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
}

// write writes the attestation when --attest was given.
func (a *attestFlags) write(out *outDir, run *report.Run) error {
	if a.file == "" {
		return nil
	}
	return writeAttestation(a.file, a.keyFile, out, run)
}
