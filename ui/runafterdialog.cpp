#include "runafterdialog.h"

#include "tasktablemodel.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSet>
#include <QVBoxLayout>

#include <algorithm>

RunAfterDialog::RunAfterDialog(const TaskTableModel &model, const QList<TaskId> &waiting,
                               QWidget *parent)
    : QDialog(parent)
    , m_filter(new QLineEdit(this))
    , m_list(new QListWidget(this))
    , m_anyEnd(new QCheckBox(tr("Whatever their end (not only once they succeeded)"), this))
{
    setObjectName(QStringLiteral("runAfterDialog"));
    setWindowTitle(tr("Run after"));
    QStringList names;
    for (TaskId id : waiting)
        names.append(QStringLiteral("#%1").arg(id));
    auto *intro = new QLabel(
        tr("%1 will start only once the tasks checked below have succeeded; if one of them "
           "does not, %1 will be cancelled.")
            .arg(names.size() > 5 ? tr("%1 tasks").arg(names.size())
                                  : names.join(QStringLiteral(", "))),
        this);
    intro->setWordWrap(true);
    m_filter->setPlaceholderText(tr("Filter by id, name or state"));
    m_filter->setClearButtonEnabled(true);
    m_list->setObjectName(QStringLiteral("runAfterTasks"));
    m_anyEnd->setObjectName(QStringLiteral("runAfterAnyEnd"));

    // Unfinished tasks first (by id), then the latest ended ones.
    const QSet<TaskId> excluded(waiting.begin(), waiting.end());
    std::vector<int> unfinished;
    std::vector<int> ended;
    for (int r = 0; r < model.rowCount(); ++r) {
        const TaskTableModel::Row &row = model.row(r);
        if (!excluded.contains(row.id))
            (isFinished(row.state) ? ended : unfinished).push_back(r);
    }
    const auto byId = [&](int a, int b) { return model.row(a).id < model.row(b).id; };
    std::sort(unfinished.begin(), unfinished.end(), byId);
    std::sort(ended.begin(), ended.end(), [&](int a, int b) { return byId(b, a); });
    int listed = 0;
    for (const std::vector<int> *rows : {&unfinished, &ended}) {
        for (int r : *rows) {
            if (listed++ >= MaxListed)
                break;
            const TaskTableModel::Row &row = model.row(r);
            auto *item = new QListWidgetItem(
                QStringLiteral("#%1  %2  (%3)").arg(row.id).arg(row.name, taskStateName(row.state)),
                m_list);
            item->setData(Qt::UserRole, row.id);
            item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
            item->setCheckState(Qt::Unchecked);
        }
    }

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Wait for them"));
    buttons->button(QDialogButtonBox::Ok)->setEnabled(false);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_list, &QListWidget::itemChanged, this, [this, buttons] {
        buttons->button(QDialogButtonBox::Ok)->setEnabled(!dependencies().isEmpty());
    });
    connect(m_filter, &QLineEdit::textChanged, this, &RunAfterDialog::filter);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(intro);
    layout->addWidget(m_filter);
    layout->addWidget(m_list, 1);
    layout->addWidget(m_anyEnd);
    layout->addWidget(buttons);
    resize(480, 420);
}

TaskDependencies RunAfterDialog::dependencies() const
{
    TaskDependencies checked;
    for (int i = 0; i < m_list->count(); ++i) {
        const QListWidgetItem *item = m_list->item(i);
        if (item->checkState() == Qt::Checked)
            checked.append(TaskDependency{TaskId(item->data(Qt::UserRole).toULongLong()),
                                          m_anyEnd->isChecked()});
    }
    return checked;
}

void RunAfterDialog::check(TaskId id)
{
    for (int i = 0; i < m_list->count(); ++i)
        if (TaskId(m_list->item(i)->data(Qt::UserRole).toULongLong()) == id)
            m_list->item(i)->setCheckState(Qt::Checked);
}

void RunAfterDialog::setAnyEnd(bool anyEnd)
{
    m_anyEnd->setChecked(anyEnd);
}

void RunAfterDialog::filter(const QString &text)
{
    for (int i = 0; i < m_list->count(); ++i) {
        QListWidgetItem *item = m_list->item(i);
        item->setHidden(!text.isEmpty() && !item->text().contains(text, Qt::CaseInsensitive));
    }
}
