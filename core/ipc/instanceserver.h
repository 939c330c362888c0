#pragma once

#include "instanceprotocol.h"

#include <QJsonObject>
#include <QObject>
#include <QString>

#include <functional>

class QLocalServer;
class QLocalSocket;

// The listening end of the instance protocol (InstanceProtocol): accepts local
// connections from this user only, reads request lines, hands each valid request to
// the handler and writes its reply. Whatever a client sends (garbage, endless lines,
// hundreds of connections) costs it an error reply or its connection, never the
// instance: lines are capped, clients counted, and a client without a complete request
// for a while is dropped (at the client limit, sooner). Main thread (the thread that
// owns it); the handler runs there too.
class InstanceServer : public QObject
{
    Q_OBJECT
public:
    // Answers one valid request; returns the reply (InstanceProtocol::ok/error).
    using Handler = std::function<QJsonObject(const InstanceProtocol::Request &request)>;
    // Sends the reply to one request: a whole line (InstanceProtocol::line). Call it once,
    // on the server's thread, at once or later (nothing happens if the client has gone).
    // A connection's replies go out in the order of its requests.
    using Reply = std::function<void(const QByteArray &line)>;
    // Answers one valid request now or later, through `reply`.
    using AsyncHandler = std::function<void(const InstanceProtocol::Request &request, Reply reply)>;

    static constexpr int DefaultMaxClients = 64;
    static constexpr int DefaultIdleTimeoutMs = 30000;
    static constexpr int DefaultEvictIdleMs = 1000;

    explicit InstanceServer(Handler handler, QObject *parent = nullptr);
    explicit InstanceServer(AsyncHandler handler, QObject *parent = nullptr);
    ~InstanceServer() override;

    // Listens on `name` (InstanceProtocol::serverName). A socket left behind by a
    // crashed instance is removed when nobody answers on it; one that answers means
    // another instance is live, and listen fails. On failure errorString() says why.
    bool listen(const QString &name);
    void close();
    bool isListening() const;
    QString fullServerName() const;
    QString errorString() const { return m_error; }

    int clientCount() const { return m_clients; }
    void setMaxClients(int count) { m_maxClients = count; }
    // A client without a complete request for this long is dropped.
    void setIdleTimeout(int ms) { m_idleTimeoutMs = ms; }
    // At the client limit, a new client takes the slot of one idle for this long.
    void setEvictIdleAfter(int ms) { m_evictIdleMs = ms; }

private:
    class Connection;
    void acceptConnections();
    void evictIdlest();

    Handler m_handler;
    AsyncHandler m_asyncHandler; // instead of m_handler
    QLocalServer *m_server;
    QString m_error;
    int m_clients = 0;
    int m_maxClients = DefaultMaxClients;
    int m_idleTimeoutMs = DefaultIdleTimeoutMs;
    int m_evictIdleMs = DefaultEvictIdleMs;
};
