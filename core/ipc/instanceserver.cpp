#include "instanceserver.h"

#include <QElapsedTimer>
#include <QLocalServer>
#include <QLocalSocket>
#include <QPointer>
#include <QTimer>

#include <deque>
#include <exception>
#include <optional>

namespace {

// Replies still unread by a client when it sends the next request: more and it is
// dropped, so a client that never reads cannot make the instance buffer without end.
constexpr qint64 MaxUnreadReplyBytes = 16 * 1024 * 1024;
// How long a connection being closed may take to hand over its last reply.
constexpr int CloseGraceMs = 2000;

void closeGracefully(QLocalSocket *socket)
{
    socket->disconnectFromServer(); // after what is written has gone out
    QTimer::singleShot(CloseGraceMs, socket, [socket] { socket->abort(); });
}

} // namespace

// One client: its socket, the bytes of the line it is sending, and its idle timer.
// Deleted (with its socket) once the client is gone. Child of the server.
class InstanceServer::Connection : public QObject
{
public:
    Connection(InstanceServer *server, QLocalSocket *socket)
        : QObject(server)
        , m_server(server)
        , m_socket(socket)
    {
        ++m_server->m_clients;
        socket->setParent(this);
        m_idle.setSingleShot(true);
        m_idle.setInterval(server->m_idleTimeoutMs);
        connect(&m_idle, &QTimer::timeout, this, [this] { drop(); });
        connect(socket, &QLocalSocket::readyRead, this, &Connection::read);
        connect(socket, &QLocalSocket::disconnected, this, &Connection::drop);
        connect(socket, &QLocalSocket::errorOccurred, this, [this](QLocalSocket::LocalSocketError) {
            if (m_socket->state() == QLocalSocket::UnconnectedState)
                drop();
        });
        m_idle.start();
        m_idleSince.start();
        if (socket->bytesAvailable() > 0)
            QMetaObject::invokeMethod(this, &Connection::read, Qt::QueuedConnection);
    }
    ~Connection() override
    {
        if (!m_dropped)
            --m_server->m_clients;
    }

    // How long since the client connected or last completed a request; -1 once closing.
    qint64 idleMs() const { return m_closing ? -1 : m_idleSince.elapsed(); }
    void evict() { drop(); }

private:
    // Handles every complete line received so far; keeps the unfinished rest.
    void read()
    {
        const QByteArray bytes = m_socket->readAll();
        if (m_closing)
            return; // draining what the client still sends until it sees the close
        // Only a complete request restarts the idle time (below): a client trickling a
        // byte now and then holds its slot no longer than one that sends nothing.
        // What was kept holds no newline: look for one in the new bytes only, so that a
        // line trickling in byte by byte costs linear time.
        const qsizetype searchFrom = m_buffer.size();
        m_buffer += bytes;
        qsizetype start = 0;
        QPointer<Connection> alive(this);
        while (!m_closing) {
            const qsizetype end = m_buffer.indexOf('\n', qMax(start, searchFrom));
            if (end < 0)
                break;
            if (end - start > InstanceProtocol::MaxRequestBytes) {
                refuseLongLine();
                return;
            }
            QByteArray line = m_buffer.mid(start, end - start);
            start = end + 1;
            if (line.endsWith('\r'))
                line.chop(1);
            if (line.trimmed().isEmpty())
                continue;
            if (m_socket->bytesToWrite() > MaxUnreadReplyBytes) {
                drop();
                return;
            }
            answer(line);
            if (!alive)
                return;
            m_idle.start();
            m_idleSince.start();
        }
        m_buffer.remove(0, start);
        if (m_buffer.size() > InstanceProtocol::MaxRequestBytes)
            refuseLongLine();
    }

    // Hands the request to the handler; its reply takes the next place in line.
    void answer(const QByteArray &line)
    {
        const quint64 seq = m_firstReply + m_replies.size();
        m_replies.emplace_back();
        auto parsed = InstanceProtocol::parse(line);
        if (const QString *why = std::get_if<QString>(&parsed)) {
            replied(seq, InstanceProtocol::line(InstanceProtocol::error(*why)));
            return;
        }
        const auto &request = std::get<InstanceProtocol::Request>(parsed);
        try {
            if (!m_server->m_asyncHandler) {
                replied(seq, InstanceProtocol::line(m_server->m_handler(request)));
                return;
            }
            QPointer<Connection> alive(this);
            m_server->m_asyncHandler(request, [alive, seq](const QByteArray &reply) {
                if (alive)
                    alive->replied(seq, reply);
            });
        } catch (const std::exception &e) {
            replied(
                seq,
                InstanceProtocol::line(InstanceProtocol::error(
                    QStringLiteral("internal error: %1").arg(QString::fromLocal8Bit(e.what())))));
        }
    }

    // Writes the replies that are ready, in the order of their requests.
    void replied(quint64 seq, const QByteArray &reply)
    {
        if (seq < m_firstReply || seq - m_firstReply >= m_replies.size())
            return; // answered already
        m_replies[size_t(seq - m_firstReply)] = reply;
        while (!m_replies.empty() && m_replies.front()) {
            if (m_socket->state() == QLocalSocket::ConnectedState)
                m_socket->write(*m_replies.front());
            m_replies.pop_front();
            ++m_firstReply;
        }
    }

    void refuseLongLine()
    {
        m_closing = true;
        m_buffer.clear();
        m_buffer.squeeze();
        m_idle.stop();
        m_socket->write(InstanceProtocol::line(InstanceProtocol::error(
            QStringLiteral("request longer than 1 MiB; closing the connection"))));
        closeGracefully(m_socket);
    }

    void drop()
    {
        if (m_dropped)
            return;
        m_dropped = true;
        --m_server->m_clients; // its slot is free from now on
        m_closing = true;
        m_idle.stop();
        m_socket->abort();
        deleteLater();
    }

    InstanceServer *m_server;
    QLocalSocket *m_socket;
    QByteArray m_buffer;
    std::deque<std::optional<QByteArray>> m_replies; // in request order, from m_firstReply
    quint64 m_firstReply = 0;
    QTimer m_idle;
    QElapsedTimer m_idleSince;
    bool m_closing = false;
    bool m_dropped = false;
};

InstanceServer::InstanceServer(Handler handler, QObject *parent)
    : QObject(parent)
    , m_handler(std::move(handler))
    , m_server(new QLocalServer(this))
{
    m_server->setSocketOptions(QLocalServer::UserAccessOption);
    connect(m_server, &QLocalServer::newConnection, this, &InstanceServer::acceptConnections);
}

InstanceServer::InstanceServer(AsyncHandler handler, QObject *parent)
    : QObject(parent)
    , m_asyncHandler(std::move(handler))
    , m_server(new QLocalServer(this))
{
    m_server->setSocketOptions(QLocalServer::UserAccessOption);
    connect(m_server, &QLocalServer::newConnection, this, &InstanceServer::acceptConnections);
}

InstanceServer::~InstanceServer()
{
    // Connections count themselves out of m_clients: delete them while it still exists.
    const QObjectList children = this->children();
    for (QObject *child : children)
        if (child != m_server)
            delete child;
}

bool InstanceServer::listen(const QString &name)
{
    m_error.clear();
    if (name.isEmpty()) {
        m_error = QStringLiteral("no socket name");
        return false;
    }
    // With access options Qt binds aside and renames over the name, replacing any socket
    // there, live or not: ask first whether someone answers on it.
    QLocalSocket probe;
    probe.connectToServer(name);
    if (probe.waitForConnected(1000)) {
        m_error = QStringLiteral("another Taskdeck is listening on %1").arg(name);
        return false;
    }
    // Nobody answers: at most a socket left by an instance that crashed.
    QLocalServer::removeServer(name);
    if (m_server->listen(name))
        return true;
    m_error = QStringLiteral("cannot listen on %1: %2").arg(name, m_server->errorString());
    return false;
}

void InstanceServer::close()
{
    m_server->close();
}

bool InstanceServer::isListening() const
{
    return m_server->isListening();
}

QString InstanceServer::fullServerName() const
{
    return m_server->fullServerName();
}

void InstanceServer::acceptConnections()
{
    while (QLocalSocket *socket = m_server->nextPendingConnection()) {
        if (m_clients >= m_maxClients)
            evictIdlest();
        if (m_clients < m_maxClients) {
            new Connection(this, socket);
            continue;
        }
        socket->write(InstanceProtocol::line(InstanceProtocol::error(
            QStringLiteral("too many clients (%1 connected); try again").arg(m_clients))));
        connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
        closeGracefully(socket);
        if (socket->state() == QLocalSocket::UnconnectedState)
            socket->deleteLater();
    }
}

// At the client limit: drops the client that has been idle longest (no complete request
// since it connected or since its last one), if that is at least the eviction time, so
// that clients which hold a slot and send nothing cannot lock the command line out.
// A dropped client only loses a connection it was not using.
void InstanceServer::evictIdlest()
{
    Connection *idlest = nullptr;
    qint64 longest = -1;
    for (QObject *child : children()) {
        auto *connection = dynamic_cast<Connection *>(child);
        if (!connection)
            continue;
        if (const qint64 ms = connection->idleMs(); ms > longest) {
            longest = ms;
            idlest = connection;
        }
    }
    if (idlest && longest >= m_evictIdleMs)
        idlest->evict(); // counts itself out at once; deleted later
}
