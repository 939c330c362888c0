#include "workersdock.h"

#include "cluster/redistasksource.h"

#include <QHeaderView>
#include <QPainter>
#include <QPixmap>
#include <QTreeWidget>

#include <algorithm>

namespace {

// The tasks a worker ended per poll, as a small line chart scaled to its highest value.
QPixmap sparkline(const QList<int> &values, const QColor &color, qreal pollSeconds)
{
    const QSize size(72, 16);
    QPixmap pixmap(size);
    pixmap.fill(Qt::transparent);
    if (values.size() < 2)
        return pixmap;
    const int top = std::max(1, *std::max_element(values.begin(), values.end()));
    QPainter painter(&pixmap);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.setPen(QPen(color, 1.5));
    QPolygonF line;
    const qreal step = qreal(size.width() - 2) / qreal(29);
    const qreal x0 = size.width() - 1 - step * qreal(values.size() - 1);
    for (qsizetype i = 0; i < values.size(); ++i)
        line << QPointF(x0 + step * qreal(i),
                        size.height() - 2 - qreal(values[i]) / top * (size.height() - 4));
    painter.drawPolyline(line);
    Q_UNUSED(pollSeconds);
    return pixmap;
}

QString age(qint64 ms)
{
    if (ms < 0)
        return QStringLiteral("never");
    if (ms < 60000)
        return QStringLiteral("%1 s").arg(double(ms) / 1000.0, 0, 'f', 1);
    if (ms < 3600000)
        return QStringLiteral("%1 min").arg(ms / 60000);
    return QStringLiteral("%1 h").arg(ms / 3600000);
}

} // namespace

WorkersDock::WorkersDock(RedisTaskSource *source, QWidget *parent)
    : QDockWidget(tr("Workers"), parent)
    , m_source(source)
    , m_table(new QTreeWidget(this))
{
    setObjectName(QStringLiteral("workersDock"));
    m_table->setObjectName(QStringLiteral("workersTable"));
    m_table->setRootIsDecorated(false);
    m_table->setUniformRowHeights(true);
    m_table->setColumnCount(ColumnCount);
    m_table->setHeaderLabels(
        {tr("Worker"), tr("Host"), tr("Running"), tr("Heartbeat"), tr("Tasks/s"), tr("State")});
    m_table->setIconSize(QSize(72, 16));
    m_table->header()->setStretchLastSection(true);
    const int widths[ColumnCount] = {90, 90, 64, 72, 130, 120};
    for (int c = 0; c < ColumnCount; ++c)
        m_table->header()->resizeSection(c, widths[c]);
    setWidget(m_table);
    connect(m_source, &RedisTaskSource::workersChanged, this, &WorkersDock::refresh);
}

void WorkersDock::refresh()
{
    const QList<RedisTaskSource::WorkerInfo> workers = m_source->workers();
    const qreal poll = RedisTaskSource::WorkersIntervalMs / 1000.0;
    m_table->setUpdatesEnabled(false);
    while (m_table->topLevelItemCount() > workers.size())
        delete m_table->takeTopLevelItem(m_table->topLevelItemCount() - 1);
    while (m_table->topLevelItemCount() < workers.size())
        m_table->addTopLevelItem(new QTreeWidgetItem);
    const QColor lostColor = palette().color(QPalette::PlaceholderText);
    for (qsizetype i = 0; i < workers.size(); ++i) {
        const RedisTaskSource::WorkerInfo &info = workers[i];
        const ClusterProtocol::Worker &w = info.worker;
        QTreeWidgetItem *item = m_table->topLevelItem(int(i));
        item->setText(Name, w.name);
        item->setText(Host,
                      w.pid > 0 ? QStringLiteral("%1 (pid %2)").arg(w.host).arg(w.pid) : w.host);
        item->setText(Running, QStringLiteral("%1/%2").arg(w.running).arg(w.capacity));
        item->setText(Heartbeat, age(w.heartbeatAgeMs));
        const qreal rate = info.ended.isEmpty() ? 0 : info.ended.last() / poll;
        item->setText(Rate, QString::number(rate, 'f', rate < 10 ? 1 : 0));
        item->setIcon(Rate,
                      QIcon(sparkline(info.ended, palette().color(QPalette::Highlight), poll)));
        item->setText(Status, w.alive ? tr("alive") : info.lostReport);
        item->setToolTip(Status, w.alive ? QString() : info.lostReport);
        for (int c = 0; c < ColumnCount; ++c)
            item->setForeground(c, w.alive ? palette().color(QPalette::Text) : lostColor);
        if (!w.alive)
            item->setForeground(Status, QColor(0xc0, 0x30, 0x30));
    }
    m_table->setUpdatesEnabled(true);
}
