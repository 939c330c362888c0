#include "instanceclient.h"

#include <QDeadlineTimer>
#include <QJsonDocument>
#include <QLocalSocket>

InstanceClient::InstanceClient()
    : m_socket(std::make_unique<QLocalSocket>())
{
}

InstanceClient::~InstanceClient() = default;

bool InstanceClient::connectTo(const QString &name, int timeoutMs)
{
    m_socket->abort();
    m_buffer.clear();
    m_error.clear();
    m_nobodyListening = false;
    if (name.isEmpty()) {
        m_error = QStringLiteral("no socket name");
        return false;
    }
    m_socket->connectToServer(name);
    if (m_socket->waitForConnected(timeoutMs))
        return true;
    m_error = m_socket->errorString();
    m_nobodyListening = m_socket->error() == QLocalSocket::ServerNotFoundError ||
                        m_socket->error() == QLocalSocket::ConnectionRefusedError;
    m_socket->abort();
    return false;
}

bool InstanceClient::isConnected() const
{
    return m_socket->state() == QLocalSocket::ConnectedState;
}

std::optional<QJsonObject> InstanceClient::request(const InstanceProtocol::Request &request,
                                                   int timeoutMs)
{
    return this->request(InstanceProtocol::toJson(request), timeoutMs);
}

std::optional<QJsonObject> InstanceClient::request(const QJsonObject &request, int timeoutMs)
{
    m_error.clear();
    if (!isConnected()) {
        m_error = QStringLiteral("not connected");
        return std::nullopt;
    }
    m_socket->write(InstanceProtocol::line(request));
    const QDeadlineTimer deadline(timeoutMs);
    while (m_socket->bytesToWrite() > 0) {
        if (!m_socket->waitForBytesWritten(int(qMax<qint64>(1, deadline.remainingTime())))) {
            m_error = deadline.hasExpired() ? QStringLiteral("timed out sending the request")
                                            : m_socket->errorString();
            return std::nullopt;
        }
    }
    qsizetype end;
    qsizetype scanned = 0; // bytes of m_buffer known to hold no newline
    while ((end = m_buffer.indexOf('\n', scanned)) < 0) {
        scanned = m_buffer.size();
        if (m_socket->bytesAvailable() > 0) {
            m_buffer += m_socket->readAll();
            continue;
        }
        if (!deadline.hasExpired() &&
            m_socket->waitForReadyRead(int(qMax<qint64>(1, deadline.remainingTime()))))
            continue;
        if (m_socket->bytesAvailable() > 0)
            continue;
        m_error = deadline.hasExpired()
                      ? QStringLiteral("no reply within %1 s").arg(timeoutMs / 1000.0)
                  : m_socket->state() != QLocalSocket::ConnectedState
                      ? QStringLiteral("the connection was closed before a reply")
                      : m_socket->errorString();
        return std::nullopt;
    }
    const QByteArray line = m_buffer.left(end);
    m_buffer.remove(0, end + 1);
    QJsonParseError error;
    const QJsonDocument reply = QJsonDocument::fromJson(line, &error);
    if (error.error != QJsonParseError::NoError || !reply.isObject()) {
        m_error = QStringLiteral("the reply is not a JSON object");
        return std::nullopt;
    }
    return reply.object();
}
