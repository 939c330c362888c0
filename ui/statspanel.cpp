#include "statspanel.h"

#include "statestyle.h"
#include "tasktablemodel.h"

#include <QComboBox>
#include <QDateTime>
#include <QEvent>
#include <QHeaderView>
#include <QLabel>
#include <QPainter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>

namespace {

constexpr int Slices = 30;

QString ms(qint64 value)
{
    return value < 0 ? QStringLiteral("—") : TaskTableModel::formatDuration(value);
}

} // namespace

StatsPanel::StatsPanel(QWidget *parent)
    : QWidget(parent)
    , m_range(new QComboBox(this))
    , m_bars(new QWidget(this))
    , m_table(new QTableWidget(0, 6, this))
{
    setObjectName(QStringLiteral("statsPanel"));
    m_range->setObjectName(QStringLiteral("statsRange"));
    m_range->addItem(tr("Last 5 minutes"), qint64(5 * 60 * 1000));
    m_range->addItem(tr("Last 30 minutes"), qint64(30 * 60 * 1000));
    m_range->addItem(tr("Last 2 hours"), qint64(MaxSpanMs));
    m_range->setCurrentIndex(1);
    connect(m_range, &QComboBox::currentIndexChanged, this,
            [this](int i) { setSpanMs(m_range->itemData(i).toLongLong()); });
    m_bars->setObjectName(QStringLiteral("throughputBars"));
    m_bars->setMinimumHeight(56);
    m_bars->installEventFilter(this);
    m_bars->setToolTip(tr("Tasks ended per slice of the range (throughput)"));
    m_table->setObjectName(QStringLiteral("groupTimes"));
    m_table->setHorizontalHeaderLabels({tr("Group"), tr("Ended"), tr("Wait median"), tr("Wait p95"),
                                        tr("Run median"), tr("Run p95")});
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionMode(QAbstractItemView::NoSelection);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setToolTip(tr("Wait: from queued to started. Run: from started to ended. Over "
                           "the tasks that ended in the range."));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_range);
    layout->addWidget(m_bars);
    layout->addWidget(m_table, 1);
    m_timer.setInterval(1000);
    connect(&m_timer, &QTimer::timeout, this, [this] {
        if (isVisible())
            refresh();
    });
    m_timer.start();
}

void StatsPanel::setSpanMs(qint64 spanMs)
{
    m_spanMs = qBound<qint64>(60 * 1000, spanMs, MaxSpanMs);
    refresh();
}

void StatsPanel::applyUpdate(const EngineUpdate &update)
{
    for (const TaskSnapshot &t : update.changed) {
        if (!isFinished(t.state) || t.state == TaskState::Interrupted || t.startedAtMs < 0 ||
            t.finishedAtMs < 0 || m_counted.contains(t.id))
            continue;
        const qint64 wait =
            t.submittedAtMs >= 0 ? qMax<qint64>(0, t.startedAtMs - t.submittedAtMs) : -1;
        m_ended.push_back({t.finishedAtMs, t.group, wait, t.finishedAtMs - t.startedAtMs});
        m_counted.insert(t.id, t.finishedAtMs);
    }
    // Ends arrive roughly in order; what is past the longest range goes.
    const qint64 horizon = QDateTime::currentMSecsSinceEpoch() - MaxSpanMs;
    while (!m_ended.empty() && m_ended.front().atMs < horizon)
        m_ended.pop_front();
    if (m_counted.size() > qsizetype(m_ended.size()) * 2 + 1024)
        m_counted.removeIf([horizon](const auto &it) { return it.value() < horizon; });
}

qint64 StatsPanel::percentile(const std::vector<qint64> &sorted, int percent)
{
    if (sorted.empty())
        return -1;
    const size_t rank = size_t(std::max<double>(1.0, std::ceil(percent / 100.0 * sorted.size())));
    return sorted[std::min(rank, sorted.size()) - 1];
}

QHash<QString, StatsPanel::GroupTimes> StatsPanel::times(qint64 nowMs) const
{
    QHash<QString, std::pair<std::vector<qint64>, std::vector<qint64>>> samples;
    for (const Ended &e : m_ended) {
        if (e.atMs < nowMs - m_spanMs || e.atMs > nowMs)
            continue;
        for (const QString &key : {e.group, QString()}) {
            auto &[waits, runs] = samples[key];
            if (e.waitMs >= 0)
                waits.push_back(e.waitMs);
            runs.push_back(e.runMs);
        }
    }
    QHash<QString, GroupTimes> result;
    for (auto it = samples.begin(); it != samples.end(); ++it) {
        auto &[waits, runs] = it.value();
        std::sort(waits.begin(), waits.end());
        std::sort(runs.begin(), runs.end());
        GroupTimes &g = result[it.key()];
        g.ended = int(runs.size());
        g.waitMedianMs = percentile(waits, 50);
        g.waitP95Ms = percentile(waits, 95);
        g.runMedianMs = percentile(runs, 50);
        g.runP95Ms = percentile(runs, 95);
    }
    return result;
}

QList<int> StatsPanel::throughput(qint64 nowMs, int slices) const
{
    QList<int> counts(slices, 0);
    const qint64 start = nowMs - m_spanMs;
    for (const Ended &e : m_ended) {
        if (e.atMs < start || e.atMs > nowMs)
            continue;
        const int slice = int(qMin<qint64>(slices - 1, (e.atMs - start) * slices / m_spanMs));
        ++counts[slice];
    }
    return counts;
}

void StatsPanel::refresh()
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const QHash<QString, GroupTimes> all = times(now);
    QStringList groups = all.keys();
    groups.removeAll(QString());
    groups.sort();
    if (all.contains(QString()) && groups.size() > 1)
        groups.prepend(QString()); // "all groups" first when there are several
    m_table->setRowCount(int(groups.size()));
    for (int r = 0; r < groups.size(); ++r) {
        const GroupTimes &g = all[groups[r]];
        const QStringList cells{groups[r].isEmpty() ? tr("(all)") : groups[r],
                                QString::number(g.ended),
                                ms(g.waitMedianMs),
                                ms(g.waitP95Ms),
                                ms(g.runMedianMs),
                                ms(g.runP95Ms)};
        for (int c = 0; c < cells.size(); ++c) {
            QTableWidgetItem *item = m_table->item(r, c);
            if (!item) {
                item = new QTableWidgetItem;
                if (c > 0)
                    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
                m_table->setItem(r, c, item);
            }
            if (item->text() != cells[c])
                item->setText(cells[c]);
        }
    }
    m_bars->update();
}

bool StatsPanel::eventFilter(QObject *watched, QEvent *event)
{
    if (watched != m_bars || event->type() != QEvent::Paint)
        return QWidget::eventFilter(watched, event);
    QPainter p(m_bars);
    const QRect area = m_bars->rect().adjusted(1, 14, -1, -1);
    const QList<int> counts = throughput(QDateTime::currentMSecsSinceEpoch(), Slices);
    const int peak = qMax(1, *std::max_element(counts.cbegin(), counts.cend()));
    const double perMinute = counts.isEmpty() ? 0 : counts.last() * 60000.0 * Slices / m_spanMs;
    p.setPen(palette().color(QPalette::WindowText));
    p.drawText(m_bars->rect().adjusted(2, 0, -2, 0), Qt::AlignLeft | Qt::AlignTop,
               tr("Throughput: %1/min now, peak %2 per %3")
                   .arg(perMinute, 0, 'f', perMinute < 10 ? 1 : 0)
                   .arg(peak)
                   .arg(ms(m_spanMs / Slices)));
    const double width = double(area.width()) / Slices;
    const QColor color = StateStyle::color(TaskState::Succeeded, palette());
    for (int i = 0; i < counts.size(); ++i) {
        const int h = int(double(area.height()) * counts[i] / peak);
        p.fillRect(QRectF(area.left() + i * width + 1, area.bottom() - h, width - 2, h), color);
    }
    p.setPen(palette().color(QPalette::Mid));
    p.drawLine(area.bottomLeft(), area.bottomRight());
    return true;
}
