// Package remote talks SSH to a build droplet: pinned host keys, streamed commands with an idle watchdog, and tree uploads.
package remote
