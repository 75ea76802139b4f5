# shellcheck shell=bash
# Client: the service and keyring code builds and vets for Windows, and the CLI
# cross-compiles without cgo for the small targets people run it on.
log "client: GOOS=windows vet of app/{cli,connect,profiles,helper}; CGO_ENABLED=0 hyp for linux/arm and windows/arm64"
GOOS=windows go vet ./app/cli ./app/connect ./app/profiles ./app/helper ./app/cmd/hyp
GOOS=linux GOARCH=arm CGO_ENABLED=0 go build -o /dev/null ./app/cmd/hyp
GOOS=windows GOARCH=arm64 CGO_ENABLED=0 go build -o /dev/null ./app/cmd/hyp
