//go:build !aspstate_goredis

package redisstore

// goRedisBuild: see Config.goRedisOnly. This build uses the hand-written
// batcher and connections.
const goRedisBuild = false
