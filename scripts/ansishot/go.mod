module virtchain/scripts/ansishot

go 1.26.8

require golang.org/x/image v0.41.0

require golang.org/x/text v0.37.0 // indirect
