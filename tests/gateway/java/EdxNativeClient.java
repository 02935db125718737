// A client of the edxbus gateway's native API in plain Java 17: only java.net.http and the
// JDK's own crypto. It sends an EDXML package as one system, then, as another system, waits
// for it in the inbox, fetches its exact bytes and acknowledges it.
//
// usage: java EdxNativeClient BASE_URL SENDER SENDER_SECRET RECEIVER RECEIVER_SECRET
//                            PACKAGE_FILE OUT_FILE
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class EdxNativeClient {
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(10)).build();
    private static final SecureRandom RANDOM = new SecureRandom();

    private final String base;
    private final String system;
    private final String secret;

    EdxNativeClient(String base, String system, String secret) {
        this.base = base;
        this.system = system;
        this.secret = secret;
    }

    /** The signed request: X-Edx-* headers over method, path, time, nonce and body digest. */
    HttpResponse<byte[]> call(String method, String path, byte[] body, String contentType,
                              String idempotencyKey) throws Exception {
        String target = "/api/v1" + path;
        String timestamp = Long.toString(System.currentTimeMillis() / 1000L);
        byte[] raw = new byte[18];
        RANDOM.nextBytes(raw);
        String nonce = Base64.getUrlEncoder().withoutPadding().encodeToString(raw);
        String digest = HexFormat.of().formatHex(
                MessageDigest.getInstance("SHA-256").digest(body));
        String canonical = String.join("\n", "EDX-HMAC-SHA256", method, target, timestamp,
                nonce, digest);
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        String signature = HexFormat.of().formatHex(
                mac.doFinal(canonical.getBytes(StandardCharsets.UTF_8)));
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + target))
                .timeout(Duration.ofSeconds(60))
                .header("X-Edx-System", system)
                .header("X-Edx-Timestamp", timestamp)
                .header("X-Edx-Nonce", nonce)
                .header("X-Edx-Signature", signature)
                .method(method, body.length == 0 && method.equals("GET")
                        ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        if (contentType != null) {
            request.header("Content-Type", contentType);
        }
        if (idempotencyKey != null) {
            request.header("Idempotency-Key", idempotencyKey);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    static String text(HttpResponse<byte[]> response) {
        return new String(response.body(), StandardCharsets.UTF_8);
    }

    static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*\"([^\"]*)\"").matcher(json);
        return m.find() ? m.group(1) : null;
    }

    static void expect(HttpResponse<byte[]> response, int status, String what) {
        if (response.statusCode() != status) {
            throw new IllegalStateException(what + ": HTTP " + response.statusCode() + " "
                    + text(response));
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 7) {
            System.err.println("usage: EdxNativeClient BASE SENDER SECRET RECEIVER SECRET "
                    + "PACKAGE OUT");
            System.exit(2);
        }
        EdxNativeClient sender = new EdxNativeClient(args[0], args[1], args[2]);
        EdxNativeClient receiver = new EdxNativeClient(args[0], args[3], args[4]);
        byte[] pkg = Files.readAllBytes(Path.of(args[5]));

        String key = UUID.randomUUID().toString();
        HttpResponse<byte[]> sent = sender.call("POST", "/documents", pkg, "application/xml", key);
        expect(sent, 201, "send");
        HttpResponse<byte[]> again = sender.call("POST", "/documents", pkg, "application/xml",
                key);
        expect(again, 201, "send again");
        String docId = field(text(sent), "doc_id");
        String documentId = field(text(sent), "document_id");
        if (!docId.equals(field(text(again), "doc_id"))) {
            throw new IllegalStateException("the repeated send gave another doc_id");
        }
        System.out.println("sent " + docId + " " + documentId);

        long deadline = System.currentTimeMillis() + 60_000L;
        String itemId = null;
        while (itemId == null) {
            HttpResponse<byte[]> inbox = receiver.call("GET", "/inbox?message_type=edoc",
                    new byte[0], null, null);
            expect(inbox, 200, "inbox");
            String listing = text(inbox);
            int at = listing.indexOf("\"document_id\":\"" + documentId + "\"");
            if (at >= 0) {
                int start = listing.lastIndexOf("{", at);
                itemId = field(listing.substring(start), "doc_id");
            } else if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("the document did not arrive: " + listing);
            } else {
                Thread.sleep(200);
            }
        }
        HttpResponse<byte[]> fetched = receiver.call("GET", "/inbox/" + itemId, new byte[0],
                null, null);
        expect(fetched, 200, "fetch");
        Files.write(Path.of(args[6]), fetched.body());
        HttpResponse<byte[]> ack = receiver.call("POST", "/inbox/" + itemId + "/ack",
                new byte[0], "application/json", UUID.randomUUID().toString());
        expect(ack, 200, "ack");
        System.out.println("received " + itemId + " " + fetched.body().length + " bytes, "
                + field(text(ack), "state"));
    }
}
