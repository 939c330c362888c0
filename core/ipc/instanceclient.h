#pragma once

#include "instanceprotocol.h"

#include <QJsonObject>
#include <QString>

#include <memory>

class QLocalSocket;

// The asking end of the instance protocol, for the command line: connects to a running
// instance, sends requests and waits for their replies, blocking (no event loop
// needed). Owned by one thread.
class InstanceClient
{
public:
    static constexpr int DefaultConnectTimeoutMs = 2000;
    static constexpr int DefaultReplyTimeoutMs = 30000;

    InstanceClient();
    ~InstanceClient();

    // True when an instance listens on `name` and accepted the connection.
    bool connectTo(const QString &name, int timeoutMs = DefaultConnectTimeoutMs);
    bool isConnected() const;
    // After a failed connectTo(): true when no instance listens on the name at all (no
    // socket, or one left behind by a crash), rather than one that did not answer.
    bool isNobodyListening() const { return m_nobodyListening; }

    // Sends `request` and waits for its reply line. Empty, with errorString() set, when
    // the instance closed the connection, did not answer in time, or answered with
    // something that is not a JSON object.
    std::optional<QJsonObject> request(const InstanceProtocol::Request &request,
                                       int timeoutMs = DefaultReplyTimeoutMs);
    std::optional<QJsonObject> request(const QJsonObject &request,
                                       int timeoutMs = DefaultReplyTimeoutMs);

    QString errorString() const { return m_error; }

private:
    std::unique_ptr<QLocalSocket> m_socket;
    QByteArray m_buffer;
    QString m_error;
    bool m_nobodyListening = false;
};
