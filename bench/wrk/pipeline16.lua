-- 16 GET requests in one write; wrk counts the 16 responses one by one.
init = function(args)
   local batch = {}
   for i = 1, 16 do
      batch[i] = wrk.format(nil, "/")
   end
   pipelined = table.concat(batch)
end

request = function()
   return pipelined
end
