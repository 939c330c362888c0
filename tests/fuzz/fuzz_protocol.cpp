// libFuzzer harness: the instance protocol on arbitrary bytes. Every line of the input
// is parsed (InstanceProtocol::parse): a request that parses must survive its own JSON
// (toJson, then parse again, gives the same JSON); a refusal is one line. Then the whole
// input goes through a real InstanceServer (an echo handler, on a local socket in a
// temporary directory) from a client in two writes: every complete non-blank line must
// get one JSON reply with "ok", and the connection must end cleanly.
#include "ipc/instanceprotocol.h"
#include "ipc/instanceserver.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QJsonDocument>
#include <QLocalSocket>
#include <QTemporaryDir>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

InstanceServer *server = nullptr;
QString serverName;

void check(bool condition, const char *what)
{
    if (!condition) {
        fprintf(stderr, "fuzz_protocol: %s\n", what);
        abort();
    }
}

QJsonObject echo(const InstanceProtocol::Request &request)
{
    return InstanceProtocol::ok({{QStringLiteral("echo"), InstanceProtocol::toJson(request)}});
}

// Spins the event loop until `done` or a generous deadline (a hang is a finding).
template <typename Done> void waitFor(Done done, const char *what)
{
    QDeadlineTimer deadline(10000);
    while (!done()) {
        check(!deadline.hasExpired(), what);
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
    }
}

void parseLines(const QByteArray &input)
{
    for (const QByteArray &line : input.split('\n')) {
        const auto parsed = InstanceProtocol::parse(line);
        if (const QString *why = std::get_if<QString>(&parsed)) {
            check(!why->isEmpty() && !why->contains(u'\n'), "a refusal that is not one line");
            continue;
        }
        const QJsonObject json =
            InstanceProtocol::toJson(std::get<InstanceProtocol::Request>(parsed));
        const QByteArray again = InstanceProtocol::line(json);
        check(again.endsWith('\n') && again.count('\n') == 1, "a request line of several lines");
        const auto reparsed = InstanceProtocol::parse(again.chopped(1));
        check(std::holds_alternative<InstanceProtocol::Request>(reparsed),
              "a parsed request whose own JSON is refused");
        check(InstanceProtocol::toJson(std::get<InstanceProtocol::Request>(reparsed)) == json,
              "a parsed request whose own JSON parses differently");
    }
}

// The replies the server owes for `input`: one per complete line that is not blank.
int expectedReplies(const QByteArray &input)
{
    int count = 0;
    qsizetype start = 0;
    for (qsizetype end; (end = input.indexOf('\n', start)) >= 0; start = end + 1) {
        QByteArray line = input.mid(start, end - start);
        if (line.endsWith('\r'))
            line.chop(1);
        if (!line.trimmed().isEmpty())
            ++count;
    }
    return count;
}

void throughTheServer(const QByteArray &input, qsizetype split)
{
    QLocalSocket client;
    client.connectToServer(serverName);
    waitFor([&] { return client.state() == QLocalSocket::ConnectedState; }, "no connection");
    client.write(input.left(split));
    client.flush();
    QCoreApplication::processEvents();
    client.write(input.mid(split));
    client.flush();
    const int expected = expectedReplies(input);
    int replies = 0;
    waitFor(
        [&] {
            while (client.canReadLine()) {
                const QByteArray line = client.readLine();
                const QJsonObject reply = QJsonDocument::fromJson(line).object();
                check(reply.value(QStringLiteral("ok")).isBool(), "a reply without \"ok\"");
                ++replies;
            }
            return replies >= expected;
        },
        "the server did not answer every line");
    check(replies == expected, "more replies than lines");
    client.disconnectFromServer();
    waitFor([] { return server->clientCount() == 0; }, "the server kept a closed connection");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static QCoreApplication app(*argc, *argv);
    static QTemporaryDir dir;
    serverName = dir.filePath(QStringLiteral("fuzz.sock"));
    server = new InstanceServer(echo);
    check(server->listen(serverName), "cannot listen");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    parseLines(input);
    throughTheServer(input, size == 0 ? 0 : qsizetype(data[0] % (size + 1)));
    return 0;
}
