import Foundation
import PaddockCore
import PaddockEngine

#if canImport(Testing)
    import Testing
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A test's own stand-in for the vendors' APIs: HTTPS on port 443 of a loopback address of its own (127.x.y.z), with
/// a certificate for the vendor host names signed by a CA made for this test only. It speaks the Anthropic Messages
/// API and the OpenAI Responses API with SSE streaming, scripted by the prompt: a prompt holding
/// `PADDOCK-RUN: <command>` makes the model call its shell tool with that command, and answer
/// `paddock-test: done` once the tool's result comes back. Every request is logged to `requests.jsonl`.
/// Nothing leaves the machine: the gateway reaches it through `[network.hosts]`.
public final class VendorOrigin: @unchecked Sendable {
    public let address: String
    public let directory: String
    /// The CA certificate the sandbox must trust (PEM).
    public var caFile: String { directory + "/ca.pem" }
    private let process: Process

    /// The names the certificate covers; tests map the ones they need to `address`.
    public static let hostNames = [
        "api.anthropic.com", "platform.claude.com", "claude.ai", "api.openai.com", "auth.openai.com", "chatgpt.com",
    ]

    /// Starts on 127.x.y.z:443. Port 443 because the profiles allow the vendor hosts on 80 and 443 only, and a
    /// test must pass through exactly those rules; so this needs root (as the suite runs on CI), and skips without.
    public static func start(directory: String) async throws -> VendorOrigin {
        guard getuid() == 0 else {
            throw PaddockError.other(
                "The vendor origin listens on port 443 and needs root (the suite runs as root on CI).")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let address = "127.\(Int.random(in: 1...254)).\(Int.random(in: 1...254)).\(Int.random(in: 2...254))"
        let names = hostNames.map { "DNS:\($0)" }.joined(separator: ",")
        let certificates = """
            set -e
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=paddock test CA" \
              -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
              -keyout ca.key -out ca.pem 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -subj "/CN=api.anthropic.com" -keyout server.key -out server.csr 2>/dev/null
            printf 'subjectAltName=\(names)\\nextendedKeyUsage=serverAuth\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf \
              -out server.pem 2>/dev/null
            chmod 0644 ca.pem
            """
        let command = Command("sh", ["-c", certificates], workingDirectory: directory)
        try await SubprocessRunner().capture(command).check(command)
        try script.write(toFile: directory + "/origin.py", atomically: true, encoding: .utf8)

        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", directory + "/origin.py", address, directory]
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        if let log = FileHandle(forWritingAtPath: directory + "/origin.log")
            ?? {
                _ = FileManager.default.createFile(atPath: directory + "/origin.log", contents: nil)
                return FileHandle(forWritingAtPath: directory + "/origin.log")
            }()
        {
            process.standardError = log
        }
        try process.run()
        let line = OriginServer.readLine(output.fileHandleForReading.fileDescriptor)
        guard line.hasPrefix("ready") else {
            process.terminate()
            let log = (try? String(contentsOfFile: directory + "/origin.log", encoding: .utf8)) ?? ""
            throw PaddockError.other("The vendor origin did not start: \(line.debugDescription) \(log)")
        }
        return VendorOrigin(address: address, directory: directory, process: process)
    }

    private init(address: String, directory: String, process: Process) {
        self.address = address
        self.directory = directory
        self.process = process
    }

    /// The requests it answered, oldest first: `path`, `host`, `reply` (what the script made the model do), and for
    /// API calls `credential` (the x-api-key or Authorization value it got).
    public func requests() -> [[String: String]] {
        let text = (try? String(contentsOfFile: directory + "/requests.jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]
        }
    }

    public func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    static let script = #"""
        import gzip, http.server, json, ssl, subprocess, sys, threading, uuid

        address, directory = sys.argv[1], sys.argv[2]
        lock = threading.Lock()

        def log(entry):
            with lock, open(directory + "/requests.jsonl", "a") as f:
                f.write(json.dumps(entry) + "\n")

        def texts(value):
            """Every string in a request body, depth first: prompts, tool results, instructions."""
            if isinstance(value, str):
                yield value
            elif isinstance(value, list):
                for item in value:
                    yield from texts(item)
            elif isinstance(value, dict):
                for item in value.values():
                    yield from texts(item)

        def has_tool_result(body):
            for message in body.get("messages", []) or []:
                content = message.get("content")
                if isinstance(content, list) and any(isinstance(c, dict) and c.get("type") == "tool_result" for c in content):
                    return True
            for item in body.get("input", []) or []:
                if isinstance(item, dict) and item.get("type") in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
                    return True
            return False

        def requested_command(body):
            """The command after PADDOCK-RUN: in the user's own words, never in tool results or instructions."""
            sources = []
            for message in body.get("messages", []) or []:
                if message.get("role") == "user":
                    sources.append(message.get("content"))
            for item in body.get("input", []) or []:
                if isinstance(item, dict) and item.get("role") == "user":
                    sources.append(item.get("content"))
            for text in texts(sources):
                if "PADDOCK-RUN:" in text:
                    return text.split("PADDOCK-RUN:", 1)[1].strip().splitlines()[0].strip()
            return None

        def tool_names(body):
            """Tool names, also those Codex declares in `additional_tools` items and namespaces."""
            names = []
            def walk(tools):
                for tool in tools or []:
                    if isinstance(tool, dict):
                        names.append(tool.get("name") or (tool.get("function") or {}).get("name") or tool.get("type"))
                        walk(tool.get("tools"))
            walk(body.get("tools"))
            for item in body.get("input", []) or []:
                if isinstance(item, dict) and item.get("type") == "additional_tools":
                    walk(item.get("tools"))
            return [n for n in names if n]

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send_json(self, status, value):
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def sse(self, events):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for name, value in events:
                    self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(value))).encode())
                    self.wfile.flush()
                self.close_connection = True

            def credential(self):
                """What the API was given to authenticate: a test checks the gateway put the real value there."""
                return self.headers.get("x-api-key") or self.headers.get("Authorization") or ""

            def do_GET(self):
                log({"method": "GET", "path": self.path, "host": self.headers.get("Host", ""), "reply": "empty"})
                self.send_json(200, {})

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_POST(self):
                raw = self.body()
                encoding = self.headers.get("Content-Encoding", "")
                try:
                    if encoding == "gzip":
                        raw = gzip.decompress(raw)
                    elif encoding == "zstd":
                        raw = subprocess.run(["zstd", "-dc"], input=raw, capture_output=True, check=True).stdout
                    body = json.loads(raw or b"{}")
                except Exception as error:
                    log({"method": "POST", "path": self.path, "error": "%s %r" % (encoding, error)})
                    body = {}
                path = self.path.split("?")[0]
                host = self.headers.get("Host", "")
                if path == "/v1/messages":
                    return self.anthropic(body, host)
                if path.endswith("/responses"):
                    return self.openai(body, host)
                log({"method": "POST", "path": self.path, "host": host, "reply": "empty"})
                self.send_json(200, {})

            # Anthropic Messages: https://docs.anthropic.com/en/api/messages-streaming
            def anthropic(self, body, host):
                command = requested_command(body)
                names = tool_names(body)
                if has_tool_result(body):
                    reply, blocks = "done", [{"type": "text", "text": "paddock-test: done"}]
                elif command and "Bash" in names:
                    reply = "tool"
                    blocks = [{"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20], "name": "Bash",
                               "input": {"command": command, "description": "paddock test step"}}]
                else:
                    reply, blocks = "text", [{"type": "text", "text": "paddock-test: hello"}]
                log({"method": "POST", "path": self.path, "host": host, "credential": self.credential(), "reply": reply, "model": str(body.get("model"))})
                stop = "tool_use" if reply == "tool" else "end_turn"
                message = {"id": "msg_" + uuid.uuid4().hex[:20], "type": "message", "role": "assistant",
                           "model": body.get("model") or "claude-test", "content": [], "stop_reason": None,
                           "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}
                if not body.get("stream"):
                    message.update(content=blocks, stop_reason=stop)
                    return self.send_json(200, message)
                events = [("message_start", {"type": "message_start", "message": message})]
                for index, block in enumerate(blocks):
                    if block["type"] == "text":
                        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                               "content_block": {"type": "text", "text": ""}}))
                        events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                               "delta": {"type": "text_delta", "text": block["text"]}}))
                    else:
                        start = dict(block, input={})
                        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
                        events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                               "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
                    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
                events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                                 "usage": {"output_tokens": 5}}))
                events.append(("message_stop", {"type": "message_stop"}))
                self.sse(events)

            # OpenAI Responses: https://platform.openai.com/docs/api-reference/responses-streaming
            def openai(self, body, host):
                command = requested_command(body)
                names = tool_names(body)
                # Codex 0.163 runs tools from JavaScript in its "code mode" (`exec`, calling tools.exec_command);
                # older ones call a shell function directly.
                shell = next((n for n in ("exec", "shell", "exec_command", "shell_command") if n in names), None)
                response_id = "resp_" + uuid.uuid4().hex[:20]
                if has_tool_result(body):
                    reply = "done"
                elif command and shell:
                    reply = "tool"
                else:
                    reply = "text"
                log({"method": "POST", "path": self.path, "host": host, "credential": self.credential(), "reply": reply, "tools": ",".join(names)})
                if reply == "tool" and shell == "exec":
                    source = "const result = await tools.exec_command({cmd: %s});\ntext(JSON.stringify(result));" % json.dumps(command)
                    item = {"type": "custom_tool_call", "id": "ctc_" + uuid.uuid4().hex[:20], "call_id": "call_" + uuid.uuid4().hex[:20],
                            "name": "exec", "input": source, "status": "completed"}
                elif reply == "tool":
                    if shell == "exec_command":
                        arguments = {"cmd": command}
                    elif shell == "shell_command":
                        arguments = {"command": command}
                    else:
                        arguments = {"command": ["bash", "-lc", command]}
                    item = {"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:20], "call_id": "call_" + uuid.uuid4().hex[:20],
                            "name": shell, "arguments": json.dumps(arguments), "status": "completed"}
                else:
                    text = "paddock-test: done" if reply == "done" else "paddock-test: hello"
                    item = {"type": "message", "id": "msg_" + uuid.uuid4().hex[:20], "role": "assistant", "status": "completed",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}
                base = {"id": response_id, "object": "response", "model": body.get("model") or "gpt-test", "output": []}
                events = [("response.created", {"type": "response.created", "response": dict(base, status="in_progress")})]
                events.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": item}))
                if item["type"] == "message":
                    events.append(("response.output_text.delta", {"type": "response.output_text.delta", "output_index": 0,
                                                                  "content_index": 0, "item_id": item["id"], "delta": item["content"][0]["text"]}))
                events.append(("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}))
                usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                         "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
                events.append(("response.completed", {"type": "response.completed",
                                                       "response": dict(base, status="completed", output=[item], usage=usage)}))
                self.sse(events)

        server = http.server.ThreadingHTTPServer((address, 443), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory + "/server.pem", directory + "/server.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        print("ready", flush=True)
        server.serve_forever()
        """#
}

extension VendorOrigin {
    /// Starts the origin; where it cannot start (no python3 or openssl), the test is skipped, and with CI=true it
    /// fails instead.
    public static func startOrSkip(directory: String) async throws -> VendorOrigin {
        do {
            return try await start(directory: directory)
        } catch {
            #if canImport(Testing)
                if IntegrationEnvironment.isCI { throw error }
                try Test.cancel("Skipped: \(error)")
            #else
                throw error
            #endif
        }
    }
}
