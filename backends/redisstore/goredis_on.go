//go:build aspstate_goredis

package redisstore

// goRedisBuild: see Config.goRedisOnly. A binary built with
// -tags aspstate_goredis sends every command through go-redis alone; only
// scripts/altbench.sh builds one, to measure the two paths against each other.
const goRedisBuild = true
