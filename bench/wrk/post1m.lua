-- POST with a 1 MiB body (wrk.format adds the Content-Length header).
wrk.method = "POST"
wrk.body = string.rep("x", 1024 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
