module github.com/kansa-audit/kansa

go 1.26

require (
	github.com/klauspost/compress v1.20.3 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)
