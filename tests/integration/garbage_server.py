# garbage_server.py MODE:PORT... - loopback listeners that answer garbage (for
# test_garbage_servers.sh), one thread per listener and per connection:
#   http     an HTTP server's answer to anything
#   cut      a RESP reply cut in the middle, then close
#   stall    a RESP reply cut in the middle, then silence
#   bulk1g   a bulk string of 1 GB announced, then streamed as fast as the client reads
#   notjson  for a stats port: text that is not JSON, then close
#   bigarray an array header of 444,444,442 elements, then silence
#   noise    random bytes, then close
import os, socket, sys, threading
def serve(mode, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=answer, args=(mode, c), daemon=True).start()
def answer(mode, c):
    try:
        c.settimeout(30)
        if mode != "notjson":
            c.recv(65536)
        if mode == "http":
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n<h1>no</h1>")
        elif mode == "cut":
            c.sendall(b"*3\r\n$4\r\nname\r\n$100\r\nabc")
        elif mode == "stall":
            c.sendall(b"$100\r\nabc")
            threading.Event().wait(25)
        elif mode == "bulk1g":
            c.sendall(b"$1073741824\r\n")
            chunk, sent = b"x" * 65536, 0
            while sent < (1 << 30) + 65536:
                c.sendall(chunk); sent += len(chunk)
        elif mode == "bigarray":
            c.sendall(b"*444444442\r\n")
            threading.Event().wait(25)
        elif mode == "notjson":
            c.sendall(b"this is not json {{{\n")
        elif mode == "noise":
            # the first byte is never a RESP type byte (+ - : $ *): random bytes that
            # began with one (~2% of runs) were read as a reply still arriving, and the
            # close that followed was reported instead of the protocol error
            noise = bytearray(os.urandom(4096))
            while noise[0] in b"+-:$*":
                noise[0] = os.urandom(1)[0]
            c.sendall(bytes(noise))
    except OSError:
        pass
    finally:
        c.close()
for arg in sys.argv[1:]:
    mode, port = arg.split(":")
    threading.Thread(target=serve, args=(mode, int(port)), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
